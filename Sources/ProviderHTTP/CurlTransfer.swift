import CCurl
import Foundation

/// One transfer: the libcurl easy handle and everything its callbacks need.
///
/// `@unchecked Sendable`: created on the caller's task, then handed to the
/// `CurlMultiLoop` thread, which alone touches the easy handle and runs the
/// callbacks until the transfer finishes. The continuation it yields into is
/// thread-safe.
final class CurlTransfer: @unchecked Sendable {
    let easy: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
    private let continuation: AsyncThrowingStream<HTTPResponsePart, any Error>.Continuation
    private var headers: [HTTPHeader] = []
    private var headDelivered = false
    private var finished = false
    /// Loop thread only: when a byte (or the transfer's start) was last seen.
    private(set) var lastActivity = ContinuousClock.now
    let stallTimeout: Duration?
    let firstByteTimeout: Duration

    init(_ request: HTTPRequest, continuation: AsyncThrowingStream<HTTPResponsePart, any Error>.Continuation) throws {
        guard let easy = curl_easy_init() else { throw HTTPTransferError.transport(code: -1, message: "libcurl could not create a handle") }
        self.easy = easy
        self.continuation = continuation
        self.stallTimeout = request.stallTimeout
        self.firstByteTimeout = request.firstByteTimeout
        errorBuffer.initialize(to: 0)
        try configure(request)
    }

    deinit {
        curl_easy_cleanup(easy)
        if let headerList { curl_slist_free_all(headerList) }
        errorBuffer.deallocate()
    }

    private func check(_ code: CURLcode) throws {
        if code != CURLE_OK {
            throw HTTPTransferError.transport(code: Int(code.rawValue), message: String(cString: curl_easy_strerror(code)))
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        // Saturating: a configured timeout of years must not trap the transfer thread.
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        return overflow ? Int(Int32.max) : min(Int(whole) + Int(attoseconds / 1_000_000_000_000_000), Int(Int32.max))
    }

    private func configure(_ request: HTTPRequest) throws {
        try check(ccurl_setopt_string(easy, CURLOPT_URL, request.url))
        try check(ccurl_setopt_long(easy, CURLOPT_NOSIGNAL, 1))
        try check(ccurl_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer))
        try check(ccurl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(request.connectTimeout)))
        if let total = request.totalTimeout { try check(ccurl_setopt_long(easy, CURLOPT_TIMEOUT_MS, Self.milliseconds(total))) }
        // The stall timeout is watched by CurlMultiLoop: curl's low-speed limit
        // averages over seconds and would let a stream hang far longer.
        try check(ccurl_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1))
        try check(ccurl_setopt_string(easy, CURLOPT_ACCEPT_ENCODING, "")) // any encoding curl can decode
        switch request.method {
        case "GET": try check(ccurl_setopt_long(easy, CURLOPT_HTTPGET, 1))
        case "POST": try check(ccurl_setopt_long(easy, CURLOPT_POST, 1))
        // A HEAD answer carries the body's headers but no body: NOBODY makes curl not wait for one.
        case "HEAD": try check(ccurl_setopt_long(easy, CURLOPT_NOBODY, 1))
        default: try check(ccurl_setopt_string(easy, CURLOPT_CUSTOMREQUEST, request.method))
        }
        if let body = request.body {
            try check(ccurl_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
            try body.withUnsafeBufferPointer { bytes in
                // COPYPOSTFIELDS: libcurl keeps its own copy, so `body` may go away.
                try check(ccurl_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!)))
            }
        } else if request.method == "POST" {
            try check(ccurl_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, 0))
            try check(ccurl_setopt_string(easy, CURLOPT_COPYPOSTFIELDS, ""))
        }
        // No "Expect: 100-continue" round trip before a body.
        for header in request.headers + [(name: "Expect", value: "")] {
            headerList = curl_slist_append(headerList, "\(header.name): \(header.value)")
        }
        try check(ccurl_setopt_slist(easy, CURLOPT_HTTPHEADER, headerList))
        let context = Unmanaged.passUnretained(self).toOpaque()
        try check(ccurl_setopt_pointer(easy, CURLOPT_HEADERDATA, context))
        try check(ccurl_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION, { data, size, count, context in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
            transfer.receivedHeaderLine(UnsafeRawBufferPointer(start: data, count: size * count))
            return size * count
        }))
        try check(ccurl_setopt_pointer(easy, CURLOPT_WRITEDATA, context))
        try check(ccurl_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION, { data, size, count, context in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
            transfer.receivedBody(UnsafeRawBufferPointer(start: data, count: size * count))
            return size * count
        }))
    }

    /// Whether no byte has arrived for longer than the stall timeout.
    func isStalled(at now: ContinuousClock.Instant) -> Bool {
        guard let stallTimeout else { return false }
        // Until the server starts answering, it gets the (longer) first-byte allowance.
        return now - lastActivity > (headDelivered ? stallTimeout : max(stallTimeout, firstByteTimeout))
    }

    private func receivedHeaderLine(_ bytes: UnsafeRawBufferPointer) {
        lastActivity = .now
        let line = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if line.hasPrefix("HTTP/") {
            headers.removeAll() // a new response block (after 1xx or a redirect)
            return
        }
        if line.isEmpty {
            var status = 0
            ccurl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            if status >= 200 { deliverHead(status: status) }
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        headers.append(HTTPHeader(name: String(line[..<colon]), value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
    }

    private func deliverHead(status: Int) {
        guard !headDelivered else { return }
        headDelivered = true
        continuation.yield(.head(HTTPResponseHead(status: status, headers: headers)))
    }

    private func receivedBody(_ bytes: UnsafeRawBufferPointer) {
        lastActivity = .now
        if !headDelivered {
            var status = 0
            ccurl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            deliverHead(status: status)
        }
        if !bytes.isEmpty { continuation.yield(.body(Array(bytes))) }
    }

    /// Ends the stream with libcurl's verdict; called once, on the loop thread.
    func finish(_ code: CURLcode) {
        guard !finished else { return }
        finished = true
        switch code {
        case CURLE_OK:
            continuation.finish()
        case CURLE_OPERATION_TIMEDOUT:
            continuation.finish(throwing: HTTPTransferError.timedOut)
        default:
            let detail = String(cString: errorBuffer)
            continuation.finish(throwing: HTTPTransferError.transport(code: Int(code.rawValue), message: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail))
        }
    }

    /// Ends the stream without libcurl's verdict: cancelled, or stalled.
    func abort(_ error: HTTPTransferError) {
        guard !finished else { return }
        finished = true
        continuation.finish(throwing: error)
    }
}
