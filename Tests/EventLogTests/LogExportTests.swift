import EventLog
import Foundation
import OutlineProjections
import PostgresClient
import Testing
import TestSupport

@Suite("Export and its chain check")
struct LogExportTests {
    static func exported(_ export: LogExport, _ selection: LogExport.Selection) async throws -> [Substring] {
        var bytes: [UInt8] = []
        _ = try await export.run(selection) { bytes += $0 }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n")
    }

    @Test("a session, a workflow and a time range export as NDJSON in global order; the export re-hashes to its chains; a changed byte is named")
    func exportAndCheck() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
            var ids: [UUID] = []
            for index in 0..<3 {
                let id = UUID()
                try await store.append(StreamAppend(sessionID: id, expectedSequence: 0,
                                                    events: SampleEvents.session(workflowId: index < 2 ? "wf-export" : "wf-other", deltas: 40 + index, seed: index).map { NewEvent($0) }))
                ids.append(id)
            }
            let export = LogExport(store: store, pageSize: 7) // several pages
            let one = try await Self.exported(export, .session(ids[0]))
            let log = try await store.read(session: ids[0], limit: 1000)
            #expect(one.count == log.count)
            let first = try #require(try JSONSerialization.jsonObject(with: Data(one[0].utf8)) as? [String: Any])
            #expect(Set(first.keys) == ["sessionId", "sequence", "position", "type", "schemaVersion", "recordedAt", "providerSequence", "chainLink", "payload"])
            #expect(try await export.count(.session(ids[0])) == Int64(log.count))
            let workflow = try await Self.exported(export, .workflow("wf-export"))
            #expect(workflow.count == one.count + (try await store.read(session: ids[1], limit: 1000)).count)
            let everything = try await Self.exported(export, .timeRange(from: nil, to: nil))
            let positions = everything.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["position"] as? Int }
            #expect(positions == positions.sorted() && positions.count == everything.count)

            var check = ExportChainCheck()
            everything.forEach { check.check(line: $0) }
            #expect(check.result.isIntact)
            #expect(check.result.sessions == 3)

            // One changed character in one payload: the check names that event.
            var tampered = everything
            let victim = try #require(everything.indices.first { everything[$0].contains("\"delta\":\"") && $0 > 3 })
            tampered[victim] = Substring(tampered[victim].replacingOccurrences(of: "\"delta\":\"", with: "\"delta\":\"X"))
            var broken = ExportChainCheck()
            tampered.forEach { broken.check(line: $0) }
            let sequence = try #require((try JSONSerialization.jsonObject(with: Data(everything[victim].utf8)) as? [String: Any])?["sequence"] as? Int)
            #expect(!broken.result.isIntact)
            #expect(broken.result.breaks.first?.contains("sequence \(sequence)") == true)
            // A missing line is a gap.
            var gap = ExportChainCheck()
            everything.enumerated().filter { $0.offset != 3 }.forEach { gap.check(line: $0.element) }
            #expect(gap.result.breaks.first?.contains("missing or reordered") == true)

            // A file exported before the fields were camelCase still checks, and still names a changed byte.
            func snakeCased(_ line: Substring) -> Substring {
                guard let payload = line.range(of: "\"payload\":") else { return line }
                var header = String(line[..<payload.lowerBound])
                for (camel, snake) in [("sessionId", "session_id"), ("schemaVersion", "schema_version"), ("recordedAt", "recorded_at"),
                                       ("providerSequence", "provider_sequence"), ("chainLink", "chain_link"), ("payloadDigest", "payload_digest")] {
                    header = header.replacingOccurrences(of: "\"\(camel)\":", with: "\"\(snake)\":")
                }
                return Substring(header + line[payload.lowerBound...])
            }
            #expect(snakeCased(everything[0]).hasPrefix("{\"session_id\":"))
            var old = ExportChainCheck()
            everything.forEach { old.check(line: snakeCased($0)) }
            #expect(old.result.isIntact && old.result.sessions == 3 && old.result.events == everything.count)
            var oldTampered = ExportChainCheck()
            tampered.forEach { oldTampered.check(line: snakeCased($0)) }
            #expect(oldTampered.result.breaks.first?.contains("sequence \(sequence)") == true)
        }
    }
}
