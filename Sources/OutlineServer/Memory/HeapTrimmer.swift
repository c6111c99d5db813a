#if os(Linux)
import CMalloc
#endif
import Foundation
import Metrics
import OutlineBasics

/// glibc's allocator keeps what a burst freed (thousands of connections set up
/// at once, a large backfill, a rebuild) in its arenas, so the process's memory
/// stays at its peak; with one arena per thread that can grow (NIO's event
/// loops, the cooperative pool, libpq's and libcurl's threads), more so. The
/// server caps the arenas and hands free memory back on a thread of its own:
/// `malloc_trim` walks the heap, which must not stall the cooperative pool.
public enum HeapTrimmer {
    public struct Settings: Sendable, Equatable {
        /// `mallopt(M_ARENA_MAX)` (`OUTLINE_MALLOC_ARENAS`); 0 keeps glibc's default.
        public var arenas: Int = 2
        /// How often free memory goes back (`OUTLINE_HEAP_TRIM_SECONDS`); nil: never.
        public var trimInterval: Duration? = .seconds(30)
        public init() {}
    }

    /// Applies the settings to this process: call once, before the server starts
    /// its threads (arenas are created on a thread's first allocation).
    public static func start(_ settings: Settings) {
        #if os(Linux)
        if settings.arenas > 0 { _ = outline_malloc_limit_arenas(Int32(clamping: settings.arenas)) }
        guard let interval = settings.trimInterval, interval > .zero else { return }
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        let timer = Timer(label: "outline_heap_trim_seconds")
        let thread = Thread {
            while true {
                Thread.sleep(forTimeInterval: seconds)
                let started = ContinuousClock.now
                _ = outline_malloc_trim()
                timer.recordNanoseconds((ContinuousClock.now - started).saturatingNanoseconds)
            }
        }
        thread.name = "outline-heap-trim"
        thread.start()
        #endif
    }
}
