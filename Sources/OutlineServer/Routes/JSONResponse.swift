import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OutlineProjections

/// Builds the API's JSON responses: sorted keys, ISO 8601 dates, no escaped slashes.
enum JSONResponse {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        bytes(try encoder().encode(value), status: status, headers: headers)
    }

    /// A session's read-model row as the API shows it (`SessionView`).
    static func row(_ row: OutlineSessionRow, status: HTTPResponse.Status = .ok) throws -> Response {
        bytes(try SessionView(row).json(), status: status)
    }

    static func bytes(_ data: some Sequence<UInt8>, status: HTTPResponse.Status = .ok, contentType: String = "application/json", headers: HTTPFields = [:]) -> Response {
        var fields: HTTPFields = [.contentType: contentType]
        fields.append(contentsOf: headers)
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
