import Foundation
import OutlineServer
import PropertyBased
import Testing
import TestSupport

/// No value a client controls crashes or wedges the process: every query
/// parameter, header and path value, at its most hostile (huge, tiny, negative,
/// NaN, infinity, long, not UTF-8), gets a 4xx with the JSON error (or a normal
/// answer where the value is valid), and the server still answers afterwards.
private func encoded(_ value: String) -> String {
    value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
}

@Suite("Hostile input: 4xx with a JSON error, never a crash")
struct HostileInputTests {
    /// Values chosen to hit the classic traps: trapping conversions, overflow,
    /// NaN and infinity, denormals, exponents, whitespace, encodings.
    static let nasty: [String] = [
        "", " ", "0", "-0", "1", "-1", "1e-300", "1E-320", "4.9e-324", "1e300", "1e309", "-1e309", "nan", "NaN", "-nan", "inf", "-inf", "infinity", "Infinity",
        "0x10", "0b1", "1_000", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
        "2147483647", "2147483648", "-2147483649", "18446744073709551616", "340282366920938463463374607431768211456",
        "0.0000000000000000000000000001", "1.7976931348623157e308", "+5", " 5", "5 ", "5\t", "٣", "１", "𝟘", "1,5", "1.5.5", "..", "-",
        String(repeating: "9", count: 5000), String(repeating: "a", count: 8000), "%00", "\u{202E}1", "null", "true", "[]", "{}",
        "00000000-0000-0000-0000-000000000000", "2026-13-45T99:99:99Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "-271821-04-20T00:00:00Z",
        "275760-09-13T00:00:00Z", "2026-01-01T00:00:00+99:99",
    ]

    static var hostile: Generator<String, AnySequence<Any>> {
        Gen<String>.oneOf(
            Gen<String?>.element(of: nasty).map { $0 ?? "" }.eraseToAnySequence(),
            Gen.double(in: -1e300...1e300).map { "\($0)" }.eraseToAnySequence(),
            Gen.int(in: -340...340).map { "7.5e\($0)" }.eraseToAnySequence(),
            Gen.double(in: -1e-300...1e-300).map { "\($0)" }.eraseToAnySequence(),
            Gen.int64(in: .min ... .max).map { "\($0)" }.eraseToAnySequence(),
            Gen.character(in: " "..."~").string(of: 0...64).eraseToAnySequence(),
            Gen.unicodeScalar(in: "\u{80}"..."\u{2FFF}").map { Character($0) }.string(of: 1...16).eraseToAnySequence()
        ).eraseToAny()
    }


    /// What every answer to a hostile value must be: no 5xx; a 4xx names its
    /// problem in the JSON error body.
    static func expectRefusedOrServed(_ reply: RawHTTP.Reply, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status < 500, "\(what) answered \(reply.status): \(String(decoding: reply.body, as: UTF8.self).prefix(300))", sourceLocation: sourceLocation)
        if (400..<500).contains(reply.status) {
            #expect(reply.errorCode != nil, "\(what) answered \(reply.status) without a JSON error", sourceLocation: sourceLocation)
        }
    }

    @Test("replay?speed=1e-300 answers 400 and the server lives on (it used to trap in the pacer)")
    func replaySpeedThatTrapped() async throws {
        try await ServiceHarness.with { h in
            let alice = try await h.token("alice")
            let (session, _) = try await h.startStreaming("wf-speed", token: alice)
            _ = try await h.waitUntilEnded("wf-speed", session: session, token: alice)
            for speed in ["1e-300", "4.9e-324", "0.001", "-1", "nan", "inf", "1001"] {
                let reply = try await h.call("GET", "/api/sessions/\(session)/replay?speed=\(speed)", token: alice)
                #expect(reply.status == 400, "speed=\(speed) answered \(reply.status)")
                #expect(reply.errorCode == "invalid_speed")
            }
            #expect(try await h.call("GET", "/healthz").status == 200)
            let played = try await h.call("GET", "/api/sessions/\(session)/replay?speed=0", token: alice)
            #expect(played.status == 200)
            #expect(played.text.contains("event: session.completed"))
        }
    }

    @Test("every query parameter and header, fed hostile values, answers 4xx JSON or a normal answer; the server lives on")
    func hostileValuesEverywhere() async throws {
        try await ServiceHarness.with { h in
            let alice = try await h.token("alice")
            let admin = try await h.token("ops", role: .admin)
            let (session, streamToken) = try await h.startStreaming("wf-hostile", token: alice)
            _ = try await h.waitUntilEnded("wf-hostile", session: session, token: alice)
            let port = try #require(Int(h.url.split(separator: ":").last ?? ""))
            let base = ServiceHarness.base("wf-hostile")
            let bearer = Array("Authorization: Bearer \(alice)".utf8)
            let adminBearer = Array("Authorization: Bearer \(admin)".utf8)
            @Sendable func fetch(_ target: String, _ headers: [[UInt8]] = []) async throws -> RawHTTP.Reply {
                try await RawHTTP.get(port: port, target: Array(target.utf8), headers: headers)
            }
            // (what, request for a value) — each a route a client controls.
            let targets: [(String, @Sendable (String) async throws -> RawHTTP.Reply)] = [
                ("replay speed", { try await fetch("/api/sessions/\(session)/replay?speed=\(encoded($0))", [bearer]) }),
                ("replay after", { try await fetch("/api/sessions/\(session)/replay?speed=0&after=\(encoded($0))", [bearer]) }),
                ("replay Last-Event-ID", { try await fetch("/api/sessions/\(session)/replay?speed=0", [bearer, Array("Last-Event-ID: \($0)".utf8)]) }),
                ("events after", { try await fetch("/api/sessions/\(session)/events?after=\(encoded($0))", [bearer]) }),
                ("events limit", { try await fetch("/api/sessions/\(session)/events?limit=\(encoded($0))", [bearer]) }),
                ("events format", { try await fetch("/api/sessions/\(session)/events?format=\(encoded($0))", [bearer]) }),
                ("stream Last-Event-ID", { try await fetch("\(base)/stream?sessionId=\(session)&token=\(streamToken)", [Array("Last-Event-ID: \($0)".utf8)]) }),
                ("stream lastEventId", { try await fetch("\(base)/stream?sessionId=\(session)&token=\(streamToken)&lastEventId=\(encoded($0))") }),
                ("stream from", { try await fetch("\(base)/stream?sessionId=\(session)&token=\(streamToken)&from=\(encoded($0))") }),
                ("status sessionId", { try await fetch("\(base)/status?sessionId=\(encoded($0))", [bearer]) }),
                ("workflow id in the path", { try await fetch("/api/workflows/\(encoded($0))/outline-generation/latest", [bearer]) }),
                ("session id in the path", { try await fetch("/api/sessions/\(encoded($0))/events", [bearer]) }),
                ("token in the query", { try await fetch("\(base)/stream?sessionId=\(session)&token=\(encoded($0))") }),
                ("Authorization header", { try await fetch("\(base)/latest", [Array("Authorization: Bearer \($0)".utf8)]) }),
                ("export since", { try await fetch("/admin/export?since=\(encoded($0))", [adminBearer]) }),
                ("export until", { try await fetch("/admin/export?since=2020-01-01T00:00:00Z&until=\(encoded($0))", [adminBearer]) }),
                ("flags workflowId", { try await fetch("/api/flags?workflowId=\(encoded($0))", [bearer]) }),
            ]
            for (what, request) in targets {
                await propertyCheck(count: 40, input: Self.hostile) { value in
                    let reply = try await request(value)
                    Self.expectRefusedOrServed(reply, "\(what) = \(value.prefix(80).debugDescription)")
                }
                #expect(try await h.call("GET", "/healthz").status == 200, "the server died after \(what)")
            }
            // Bytes that are not UTF-8 at all, in the path, the query and a header.
            let raw: [[UInt8]] = [[0xFF, 0xFE], [0xC3], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x80, 0x80, 0x80]]
            for bytes in raw {
                for reply in [
                    try await RawHTTP.get(port: port, target: Array("/api/sessions/\(session)/replay?speed=".utf8) + bytes, headers: [bearer]),
                    try await RawHTTP.get(port: port, target: Array("/api/workflows/".utf8) + bytes + Array("/outline-generation/latest".utf8), headers: [bearer]),
                    try await RawHTTP.get(port: port, target: Array("/api/sessions/\(session)/events".utf8), headers: [bearer, Array("Accept: ".utf8) + bytes]),
                    try await RawHTTP.get(port: port, target: Array("\(base)/stream?sessionId=\(session)&token=\(streamToken)".utf8), headers: [Array("Last-Event-ID: ".utf8) + bytes]),
                ] {
                    #expect(reply.status < 500, "non-UTF-8 \(bytes) answered \(reply.status)")
                }
            }
            #expect(try await h.call("GET", "/healthz").status == 200)
        }
    }

    @Test("the environment's numbers are range-checked: a clear error, never a trap")
    func environmentValues() throws {
        // Lease timing is the operator's: a short lease shortens the adoption interval with it.
        let fast = try ServiceConfiguration.fromEnvironment(["OUTLINE_TOKEN_SECRET": ServiceHarness.secret, "OUTLINE_LEASE_MS": "3000", "OUTLINE_ADOPTION_INTERVAL_MS": "500"])
        #expect(fast.leaseTimeToLive == .seconds(3) && fast.adoptionInterval == .milliseconds(500))
        #expect(try ServiceConfiguration.fromEnvironment(["OUTLINE_TOKEN_SECRET": ServiceHarness.secret, "OUTLINE_LEASE_MS": "4000"]).adoptionInterval == .seconds(4))
        #expect(throws: ServiceConfiguration.Problem.self) {
            try ServiceConfiguration.fromEnvironment(["OUTLINE_TOKEN_SECRET": ServiceHarness.secret, "OUTLINE_LEASE_MS": "2000", "OUTLINE_ADOPTION_INTERVAL_MS": "5000"])
        }
        // The heap's tuning: 0 trims never; arenas default to 2.
        let heap = try ServiceConfiguration.fromEnvironment(["OUTLINE_TOKEN_SECRET": ServiceHarness.secret, "OUTLINE_HEAP_TRIM_SECONDS": "0"]).heap
        #expect(heap.trimInterval == nil && heap.arenas == 2)
        #expect(try ServiceConfiguration.fromEnvironment(["OUTLINE_TOKEN_SECRET": ServiceHarness.secret, "OUTLINE_MALLOC_ARENAS": "4"]).heap.arenas == 4)
        let names = ["OUTLINE_HEARTBEAT_SECONDS", "OUTLINE_SSE_BUFFER_BYTES", "OUTLINE_STREAM_TOKEN_SECONDS", "STREAMING_ROLLOUT_PERCENT",
                     "OUTLINE_SSE_WRITE_TIMEOUT_SECONDS", "OUTLINE_HTTP_IDLE_TIMEOUT_SECONDS", "OUTLINE_DB_CHECKOUT_TIMEOUT_MS",
                     "OUTLINE_DB_STATEMENT_TIMEOUT_MS", "OUTLINE_DB_CONNECT_TIMEOUT_SECONDS", "OUTLINE_PROVIDER_STALL_SECONDS", "OUTLINE_LEASE_MS", "OUTLINE_ADOPTION_INTERVAL_MS",
                     "OUTLINE_LIMIT_ACTIVE_SESSIONS", "OUTLINE_LIMIT_STARTS_PER_HOUR", "OUTLINE_LIMIT_STARTS_PER_DAY",
                     "OUTLINE_LIMIT_NEW_WORKFLOWS_PER_HOUR", "OUTLINE_LIMIT_STREAMS", "OUTLINE_MALLOC_ARENAS", "OUTLINE_HEAP_TRIM_SECONDS"]
        for name in names {
            for value in Self.nasty {
                let environment = ["OUTLINE_TOKEN_SECRET": ServiceHarness.secret, name: value]
                // Either accepted within its documented range or refused with the variable's name.
                do {
                    _ = try ServiceConfiguration.fromEnvironment(environment)
                } catch let problem as ServiceConfiguration.Problem {
                    #expect(problem.description.hasPrefix(name), "\(problem)")
                }
            }
        }
    }
}
