import CCurl
import Foundation

/// Drives every transfer of the process with one libcurl multi handle on one
/// dedicated thread: hundreds of concurrent provider streams cost one thread,
/// not one each, and no libcurl call ever runs on Swift's cooperative pool.
///
/// Other threads only queue work (under a lock) and call `curl_multi_wakeup`,
/// which libcurl allows from any thread; everything else happens on the loop.
final class CurlMultiLoop: @unchecked Sendable {
    static let shared = CurlMultiLoop()

    private let multi: UnsafeMutableRawPointer
    private let lock = NSLock()
    private var toAdd: [CurlTransfer] = []
    private var toCancel: [CurlTransfer] = []
    /// Loop thread only.
    private var running: [UnsafeMutableRawPointer: CurlTransfer] = [:]

    private init() {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        multi = curl_multi_init()
        let thread = Thread { [self] in self.run() }
        thread.name = "curl-multi"
        thread.stackSize = 1 << 20
        thread.start()
    }

    func add(_ transfer: CurlTransfer) {
        lock.lock()
        toAdd.append(transfer)
        lock.unlock()
        curl_multi_wakeup(multi)
    }

    func cancel(_ transfer: CurlTransfer) {
        lock.lock()
        toCancel.append(transfer)
        lock.unlock()
        curl_multi_wakeup(multi)
    }

    /// Transfers in flight, for diagnostics and benchmarks.
    private(set) var activeCount = 0

    private func run() {
        var stillRunning: Int32 = 0
        while true {
            lock.lock()
            let adding = toAdd
            let cancelling = toCancel
            toAdd.removeAll()
            toCancel.removeAll()
            lock.unlock()
            for transfer in adding {
                running[transfer.easy] = transfer
                curl_multi_add_handle(multi, transfer.easy)
            }
            for transfer in cancelling where running.removeValue(forKey: transfer.easy) != nil {
                curl_multi_remove_handle(multi, transfer.easy)
                transfer.abort(.cancelled)
            }
            curl_multi_perform(multi, &stillRunning)
            var remaining: Int32 = 0
            while let message = curl_multi_info_read(multi, &remaining) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                let code = ccurl_message_result(message)
                curl_multi_remove_handle(multi, easy)
                running.removeValue(forKey: easy)?.finish(code)
            }
            let now = ContinuousClock.now
            var watchingStalls = false
            for (easy, transfer) in running where transfer.stallTimeout != nil {
                watchingStalls = true
                if transfer.isStalled(at: now) {
                    curl_multi_remove_handle(multi, easy)
                    running.removeValue(forKey: easy)
                    transfer.abort(.stalled)
                }
            }
            activeCount = running.count
            curl_multi_poll(multi, nil, 0, watchingStalls ? 100 : 1000, nil)
        }
    }
}
