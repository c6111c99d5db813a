import EventLog
import Foundation
import OutlineAuth
import OutlineServer
import SimulatedProvider
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Issue 15 point 3: the real `outline-server`, with an OTLP endpoint
/// configured, exports one session's traces to a receiver in this process:
/// the start request continuing the caller's `traceparent`, a trace per step
/// (preparation, research run, each resume), provider calls carrying the
/// step's `traceparent` to the provider, append transactions and the SSE
/// connection under the right parents, and log lines with the trace id.
@Suite("Traces: one session end to end in OpenTelemetry")
struct TraceTests {
    @Test("start (continuing the caller's traceparent), prepare, research and each resume as traces, provider calls with traceparent, appends and the SSE connection as children, trace ids in the log")
    func oneSession() async throws {
        _ = ServiceHarness.metrics
        let receiver = try await OTLPReceiver.start()
        // Every stream is cut after 40 events: the run resumes, and each resume is a step.
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(spec: TranscriptSpec(outputLength: 600, pace: .zero), faults: [.cutAfter(events: 40)]))
        defer { Task { await provider.stop(); await receiver.stop() } }
        try await TestDatabase.withDatabase { pool, settings in
            let running = try await ServerProcess.start(database: settings.conninfo, providerURL: provider.url, environment: [
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_BSP_SCHEDULE_DELAY": "100",
            ])
            let server = running.process
            defer { running.terminateIfRunning() }
            let log = { running.wholeLog }
            let url = running.url
            let alice = try await TokenSigner(secret: ServiceHarness.secret).sign(AccessToken(subject: "alice", role: .user, expiresAt: Date().addingTimeInterval(600)))
            let client = ServiceHarness(url: url, app: OutlineServerApplication(pool: pool, migrations: []), provider: provider, pool: pool)

            // The caller's trace: the start request continues it.
            let callerTrace = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
            let callerSpan = (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
            let started = try await client.call("POST", ServiceHarness.base("wf-traced") + "/start", token: alice,
                                                json: ["prompt": "Tidal energy in Europe", "skipClarification": true],
                                                headers: [("traceparent", "00-\(callerTrace)-\(callerSpan)-01")])
            try #require(started.status == 201, "\(started.text)")
            let session = try #require(started.json?["sessionId"] as? String)
            let streamToken = try #require(started.json?["streamToken"] as? String)
            let stream = try await SSEClient().connect(url + ServiceHarness.base("wf-traced") + "/stream?sessionId=\(session)&token=\(streamToken)&from=0")
            #expect(stream.events.last?.event == "session.completed")
            let resumes = try await client.log(session).filter { $0.eventType == "session.resumed" }.count
            try #require(resumes >= 1, "the cut streams must make the run resume")
            // A graceful stop exports what is left.
            kill(server.processIdentifier, SIGTERM)
            try await Deadline.wait(for: "outline-server to exit after SIGTERM", within: .seconds(30)) { !server.isRunning }
            #expect(server.terminationStatus == 0)

            let spans = receiver.spans
            #expect(!spans.isEmpty && spans.allSatisfy { $0.service == "outline-server" })
            let byID = Dictionary(spans.map { ($0.spanID, $0) }, uniquingKeysWith: { a, _ in a })
            func children(of span: OTLPReceiver.Span, named name: String? = nil) -> [OTLPReceiver.Span] {
                spans.filter { $0.parentSpanID == span.spanID && $0.traceID == span.traceID && (name == nil || $0.name == name) }
            }
            let ofSession = spans.filter { $0.attributes["outline.session.id"] == session }

            // Start: the request's server span continues the caller's trace; the start step and its append transaction are under it.
            let request = try #require(spans.first { $0.kind == 2 && $0.traceID == callerTrace && $0.parentSpanID == callerSpan },
                                       "no server span continues the caller's traceparent: \(spans.map { "\($0.name) \($0.traceID)" })")
            let start = try #require(children(of: request, named: "session.start").first)
            #expect(children(of: start, named: "event_log.append").contains { $0.attributes["outline.session.id"] == session })

            // Preparation and research: traces of their own (roots), linked to the start, each with provider calls and appends.
            let prepare = try #require(ofSession.first { $0.name == "session.prepare" })
            let research = try #require(ofSession.first { $0.name == "session.research" })
            for step in [prepare, research] {
                #expect(step.parentSpanID.isEmpty && step.traceID != callerTrace, "\(step.name) is the root of a trace of its own")
                #expect(!step.links.isEmpty, "\(step.name) links to the step before")
                #expect(!children(of: step).filter { $0.kind == 3 && $0.name.hasPrefix("provider POST") }.isEmpty, "\(step.name) has its provider call")
                #expect(!children(of: step, named: "event_log.append").isEmpty, "\(step.name) has its append transactions")
            }
            #expect(research.links.contains(start.spanID) || research.links.contains(request.spanID) || prepare.links.contains(request.spanID) || prepare.links.contains(start.spanID))
            // Each resume: a trace of its own, linked, with its resumed stream as a provider call and its appends.
            let resumeSpans = ofSession.filter { $0.name == "session.resume" }
            #expect(resumeSpans.count == resumes, "one trace per resume (\(resumes) in the log)")
            for resume in resumeSpans {
                #expect(resume.parentSpanID.isEmpty && !resume.links.isEmpty)
                #expect(children(of: resume).contains { $0.kind == 3 && $0.name.hasPrefix("provider GET") })
            }
            // The provider received each call's traceparent: the call's own span, in the step's trace.
            let traceparents = await provider.state.traceparents
            #expect(traceparents.count >= 2 + resumes)
            for (call, header) in traceparents {
                let parts = header.split(separator: "-").map(String.init)
                try #require(parts.count == 4, "\(call): \(header)")
                let span = try #require(byID[parts[2]], "\(call): its traceparent names no exported span")
                #expect(span.kind == 3 && span.traceID == parts[1], "\(call)")
            }
            // The SSE connection: a span under its request's server span.
            let connection = try #require(spans.first { $0.name == "sse.connection" && $0.attributes["outline.session.id"] == session })
            #expect(byID[connection.parentSpanID]?.kind == 2)
            // Log lines written inside a step carry its trace id.
            let stepTraces = Set([prepare, research].map(\.traceID) + resumeSpans.map(\.traceID))
            #expect(log().split(separator: "\n").contains { line in stepTraces.contains { line.contains("trace_id=\($0)") } },
                    "no log line carries a step's trace id: \(log().suffix(2000))")
        }
    }

    @Test("an OTLP setting the exporter cannot honour stops the server at start, naming the variable")
    func refusesBadSettings() async throws {
        for (key, value) in [("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318")] {
            var environment = ProcessInfo.processInfo.environment
            environment["OUTLINE_TOKEN_SECRET"] = ServiceHarness.secret
            environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4318"
            environment[key] = value
            let server = Process()
            server.executableURL = URL(fileURLWithPath: ServerProcess.executable("outline-server"))
            server.arguments = ["--port", "0"]
            server.environment = environment
            let errors = Pipe()
            server.standardError = errors
            server.standardOutput = FileHandle.nullDevice
            try server.run()
            let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            server.waitUntilExit()
            #expect(server.terminationStatus != 0, "\(key)=\(value)")
            #expect(output.contains(key) && output.contains("refusing to start"), "\(key)=\(value): \(output.suffix(500))")
        }
    }
}
