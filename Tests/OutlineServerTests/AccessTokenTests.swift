import Foundation
import OutlineServer
import Testing

@Suite("HS256 access tokens")
struct AccessTokenTests {
    let signer = TokenSigner(secret: "test-secret-of-some-length")

    @Test("a signed token verifies to the same claims")
    func roundTrip() throws {
        let token = AccessToken(subject: "user-42", role: .user, expiresAt: Date().addingTimeInterval(600), session: "3f2a")
        #expect(try signer.verify(try signer.sign(token)) == token)
    }

    @Test("a token signed with another secret, tampered with, expired, malformed or of another algorithm is refused")
    func refusals() throws {
        let token = AccessToken(subject: "user-42", role: .user, expiresAt: Date().addingTimeInterval(600))
        let signed = try signer.sign(token)
        #expect(throws: TokenSigner.Failure.badSignature) { try TokenSigner(secret: "other").verify(signed) }
        // Claim to be an admin without the secret.
        var parts = signed.split(separator: ".").map(String.init)
        let forged = try JSONEncoder().encode(AccessToken(subject: "user-42", role: .admin, expiresAt: Date().addingTimeInterval(600)))
        parts[1] = forged.base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        #expect(throws: TokenSigner.Failure.badSignature) { try signer.verify(parts.joined(separator: ".")) }
        let old = try signer.sign(AccessToken(subject: "u", role: .user, expiresAt: Date().addingTimeInterval(-1)))
        #expect(throws: TokenSigner.Failure.expired) { try signer.verify(old) }
        for garbage in ["", "abc", "a.b", "a.b.c.d", "!!!.???.***"] {
            #expect(throws: TokenSigner.Failure.malformed) { try signer.verify(garbage) }
        }
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
        #expect(throws: TokenSigner.Failure.unsupportedAlgorithm("none")) { try signer.verify(none) }
    }
}
