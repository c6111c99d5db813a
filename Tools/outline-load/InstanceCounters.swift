import BenchmarkSupport
import Foundation
import ProviderHTTP

/// The counters of one instance's `/metrics` that say what it asked of the
/// primary and delivered: scraped before and after a window, their differences
/// are the window's load.
struct InstanceCounters {
    var appendCommits = 0.0
    var eventsAppended = 0.0
    var notificationsHeard = 0.0
    var sseEventsSent = 0.0
    var appendBatch = PrometheusHistogram(named: "", in: "")
    var standbyReads = 0.0
    var primaryReads = 0.0
    /// Feed reads for other instances' commits: sessions read, and round trips that read several at once.
    var feedFetches = 0.0
    var batchedReads = 0.0

    static func scrape(_ url: String, http: CurlHTTPClient) async throws -> InstanceCounters {
        let text = String(decoding: try await http.send(ProviderHTTP.HTTPRequest(url: url + "/metrics")).body, as: UTF8.self)
        let batch = PrometheusHistogram(named: "outline_append_batch_seconds", in: text)
        return InstanceCounters(appendCommits: batch.count, eventsAppended: value("outline_events_appended_total", in: text),
                                notificationsHeard: value("outline_feed_notifications_total", in: text), sseEventsSent: value("outline_sse_events_sent_total", in: text),
                                appendBatch: batch,
                                standbyReads: value("outline_replica_reads_total", labeled: "served_by=\"standby\"", in: text),
                                primaryReads: value("outline_replica_reads_total", labeled: "served_by=\"primary\"", in: text),
                                feedFetches: value("outline_feed_fetches_total", in: text), batchedReads: value("outline_feed_batched_reads_total", in: text))
    }

    func minus(_ earlier: InstanceCounters) -> InstanceCounters {
        InstanceCounters(appendCommits: appendCommits - earlier.appendCommits, eventsAppended: eventsAppended - earlier.eventsAppended,
                         notificationsHeard: notificationsHeard - earlier.notificationsHeard, sseEventsSent: sseEventsSent - earlier.sseEventsSent,
                         appendBatch: appendBatch.minus(earlier.appendBatch),
                         standbyReads: standbyReads - earlier.standbyReads, primaryReads: primaryReads - earlier.primaryReads,
                         feedFetches: feedFetches - earlier.feedFetches, batchedReads: batchedReads - earlier.batchedReads)
    }

    /// The sum of a counter's series (those carrying `label`, if given).
    static func value(_ name: String, labeled label: String? = nil, in text: String) -> Double {
        text.split(separator: "\n").reduce(0) { total, line in
            guard line.hasPrefix(name + " ") || line.hasPrefix(name + "{"), label.map({ line.contains($0) }) ?? true,
                  let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { return total }
            return total + value
        }
    }
}
