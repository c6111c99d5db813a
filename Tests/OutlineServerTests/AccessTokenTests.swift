import Foundation
import OutlineServer
import Testing
import TestSupport

@Suite("HS256 access tokens (jwt-kit), and who may use which token where")
struct AccessTokenTests {
    let signer = TokenSigner(secret: "test-secret-of-at-least-32-bytes-long")

    @Test("a signed token verifies to the same claims")
    func roundTrip() async throws {
        let token = AccessToken(subject: "user-42", role: .user, expiresAt: Date().addingTimeInterval(600), session: "3f2a")
        #expect(try await signer.verify(try await signer.sign(token)) == token)
    }

    @Test("a token signed with another secret, tampered with, expired, malformed or of another algorithm is refused")
    func refusals() async throws {
        let token = AccessToken(subject: "user-42", role: .user, expiresAt: Date().addingTimeInterval(600))
        let signed = try await signer.sign(token)
        await #expect(throws: TokenSigner.Failure.badSignature) { try await TokenSigner(secret: "another-secret-of-at-least-32-bytes").verify(signed) }
        // Claim to be an admin without the secret.
        var parts = signed.split(separator: ".").map(String.init)
        let forged = try JSONEncoder().encode(AccessToken(subject: "user-42", role: .admin, expiresAt: Date().addingTimeInterval(600)))
        parts[1] = forged.base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        await #expect(throws: TokenSigner.Failure.badSignature) { try await signer.verify(parts.joined(separator: ".")) }
        // The signature's last byte flipped: constant-time comparison still says no.
        var flipped = Array(signed.utf8)
        flipped[flipped.count - 2] = flipped[flipped.count - 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        await #expect(throws: TokenSigner.Failure.badSignature) { try await signer.verify(String(decoding: flipped, as: UTF8.self)) }
        let old = try await signer.sign(AccessToken(subject: "u", role: .user, expiresAt: Date().addingTimeInterval(-5)))
        await #expect(throws: TokenSigner.Failure.expired) { try await signer.verify(old) }
        for garbage in ["", "abc", "a.b", "a.b.c.d", "!!!.???.***", String(repeating: "a", count: 100_000)] {
            await #expect(throws: TokenSigner.Failure.malformed) { try await signer.verify(garbage) }
        }
        // The algorithm is pinned: none, and RS256 (the secret passed off as a public key), are refused before any parsing.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
        await #expect(throws: TokenSigner.Failure.unsupportedAlgorithm("none")) { try await signer.verify(none) }
        let rs256 = Data(#"{"alg":"RS256","typ":"JWT"}"#.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
        await #expect(throws: TokenSigner.Failure.unsupportedAlgorithm("RS256")) { try await signer.verify(rs256 + "." + parts[1] + "." + parts[2]) }
    }

    @Test("a stream token never outlives the API token that minted it")
    func streamTokenLifetime() async throws {
        try await ServiceHarness.with { h in
            let expiresAt = Date().addingTimeInterval(120)
            let shortLived = try await h.app.signer.sign(AccessToken(subject: "alice", role: .user, expiresAt: expiresAt))
            let reply = try await h.call("POST", ServiceHarness.base("wf-short") + "/start", token: shortLived, json: ["prompt": "p", "skipClarification": true])
            #expect(reply.status == 201)
            let streamToken = try #require(reply.json?["streamToken"] as? String)
            let claims = try await h.app.signer.verify(streamToken)
            #expect(claims.expiresAt <= Int64(expiresAt.timeIntervalSince1970), "the stream token (exp \(claims.expiresAt)) outlives its API token")
            let session = try #require(reply.json?["sessionId"] as? String)
            let refreshed = try await h.call("GET", ServiceHarness.base("wf-short") + "/stream-token?sessionId=\(session)", token: shortLived)
            #expect(try await h.app.signer.verify(try #require(refreshed.json?["streamToken"] as? String)).expiresAt <= Int64(expiresAt.timeIntervalSince1970))
        }
    }

    @Test("one session's stream token is refused on another's routes; a stream token in the Authorization header is refused on API routes; a user token is refused on /admin")
    func tokenScopes() async throws {
        try await ServiceHarness.with { h in
            let alice = try await h.token("alice")
            let (a, tokenA) = try await h.startStreaming("wf-ta", token: alice)
            let (b, _) = try await h.startStreaming("wf-tb", token: alice)
            _ = try await h.waitUntilEnded("wf-ta", session: a, token: alice)
            _ = try await h.waitUntilEnded("wf-tb", session: b, token: alice)
            // Session A's stream token on session B's routes: as if B did not exist.
            for path in [ServiceHarness.base("wf-tb") + "/stream?sessionId=\(b)&from=0&token=\(tokenA)", "/api/sessions/\(b)/replay?speed=0&token=\(tokenA)"] {
                let reply = try await h.call("GET", path)
                #expect(reply.status == 404, "\(path): \(reply.status)")
            }
            // Its own session's routes accept it.
            #expect(try await h.call("GET", "/api/sessions/\(a)/replay?speed=0&token=\(tokenA)").status == 200)
            // A stream token is no API credential, even in the Authorization header.
            let apiRoutes: [(String, String, Any?)] = [
                ("GET", ServiceHarness.base("wf-ta") + "/status?sessionId=\(a)", nil), ("GET", ServiceHarness.base("wf-ta") + "/latest", nil),
                ("POST", ServiceHarness.base("wf-ta") + "/cancel", ["sessionId": a]), ("POST", ServiceHarness.base("wf-ta") + "/start", ["prompt": "p"]),
                ("POST", ServiceHarness.base("wf-ta") + "/start-v2", ["prompt": "p"]), ("POST", ServiceHarness.base("wf-ta") + "/clarifications", ["sessionId": a, "answers": ["x"]]),
                ("GET", ServiceHarness.base("wf-ta") + "/stream-token?sessionId=\(a)", nil), ("GET", "/api/sessions/\(a)/events", nil),
                ("GET", "/api/sessions/\(a)/verify", nil), ("GET", "/api/workflows", nil), ("POST", "/api/workflows", ["workflowId": "wf-new"]),
                ("GET", "/api/workflows/wf-ta/export", nil), ("GET", "/api/flags?workflowId=wf-ta", nil),
            ]
            for (method, path, body) in apiRoutes {
                let reply = try await h.call(method, path, token: tokenA, json: body)
                #expect(reply.status == 403, "\(method) \(path) with a stream token: \(reply.status)")
                #expect(reply.errorCode == "stream_token_not_allowed", "\(method) \(path)")
            }
            // A user token on every /admin route; an admin's stream token too.
            let adminRoutes: [(String, String, Any?)] = [
                ("GET", "/admin/flags", nil), ("PUT", "/admin/flags", ["useStreaming": true]), ("GET", "/admin/export?since=2020-01-01T00:00:00Z", nil),
                ("GET", "/admin/outline-generation-diagnostics", nil),
            ]
            let admin = try await h.token("ops", role: .admin)
            let adminStreamToken = try #require(try await h.call("GET", ServiceHarness.base("wf-ta") + "/stream-token?sessionId=\(a)", token: admin).json?["streamToken"] as? String)
            for (method, path, body) in adminRoutes {
                for token in [alice, adminStreamToken] {
                    let reply = try await h.call(method, path, token: token, json: body)
                    #expect(reply.status == 403, "\(method) \(path): \(reply.status)")
                }
                #expect(try await h.call(method, path, token: admin, json: body).status == 200, "\(method) \(path) as admin")
            }
        }
    }
}
