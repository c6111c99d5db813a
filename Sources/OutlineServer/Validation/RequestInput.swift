import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Reading what a client sent, with a 4xx that names the problem for anything
/// malformed: path and query values, JSON bodies (content type, size, fields).
enum RequestInput {
    /// Workflow ids are the old system's: short, printable, no slashes.
    static func workflowID(_ context: OutlineRequestContext) throws -> String {
        guard let raw = context.parameters.get("workflowId") else { throw APIError.invalid("workflowId", "The path must name a workflow.") }
        return try validWorkflowID(raw.removingPercentEncoding ?? raw)
    }

    /// The one rule for workflow ids, in paths and in bodies.
    static func validWorkflowID(_ id: String) throws -> String {
        guard (1...200).contains(id.count), id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) }) else {
            throw APIError.invalid("workflowId", "A workflow id is 1 to 200 characters: letters, digits, '-', '_', '.', ':'.", code: "invalid_workflow_id")
        }
        return id
    }

    static func uuid(_ text: String?, field: String) throws -> UUID {
        guard let text, !text.isEmpty else { throw APIError.invalid(field, "The \(field) parameter is required.", code: "missing_\(snake(field))") }
        guard let id = UUID(uuidString: text) else {
            throw APIError.invalid(field, "\(field) must be a UUID such as 3f2a…-…; got \(String(text.prefix(60)).debugDescription).", code: "invalid_\(snake(field))")
        }
        return id
    }

    static func sessionIDQuery(_ request: Request) throws -> UUID {
        try uuid(request.uri.queryParameters.get("sessionId"), field: "sessionId")
    }

    /// An optional non-negative integer query parameter within `range`.
    static func integer(_ request: Request, _ name: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let value = Int64(text), range.contains(value) else {
            throw APIError.invalid(name, "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound).", code: "invalid_\(snake(name))")
        }
        return value
    }

    /// A JSON body decoded as `T`: the content type must be JSON, the size within
    /// the context's limit, and every required field present with its type.
    static func json<T: Decodable>(_ type: T.Type, from request: Request, context: OutlineRequestContext) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: context.maxUploadSize)
        } catch {
            throw APIError(.contentTooLarge, code: "body_too_large", message: "The body is larger than \(context.maxUploadSize / 1024) KiB.")
        }
        guard buffer.readableBytes > 0 else { throw APIError(.badRequest, code: "missing_body", message: "This route needs a JSON body.") }
        if let contentType = request.headers[.contentType] {
            let media = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard media == "application/json" || media.hasSuffix("+json") else {
                throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "Send the body as application/json (got \(media)).")
            }
        }
        let data = Data(buffer.readableBytesView)
        // PostgreSQL's jsonb and text cannot hold NUL: refuse it up front with a
        // 400 that names the problem, instead of failing in the database.
        if data.contains(0) || (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])).map(containsNUL) == true {
            throw APIError(.badRequest, code: "invalid_json", message: "The body holds a NUL character (\\u0000), which is not accepted.")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw describe(error)
        } catch let error as APIError {
            throw error
        }
    }

    /// Whether a decoded JSON value holds U+0000 in any string or key.
    static func containsNUL(_ value: Any) -> Bool {
        switch value {
        case let string as String: return string.unicodeScalars.contains("\0")
        case let array as [Any]: return array.contains(where: containsNUL)
        case let object as [String: Any]: return object.contains { $0.key.unicodeScalars.contains("\0") || containsNUL($0.value) }
        default: return false
        }
    }

    /// Like `json`, for routes whose body may be left out entirely.
    static func optionalJSON<T: Decodable>(_ type: T.Type, from request: Request, context: OutlineRequestContext) async throws -> T? {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: context.maxUploadSize)
        } catch {
            throw APIError(.contentTooLarge, code: "body_too_large", message: "The body is larger than \(context.maxUploadSize / 1024) KiB.")
        }
        guard buffer.readableBytes > 0 else { return nil }
        return try await json(type, from: request, context: context)
    }

    static func describe(_ error: DecodingError) -> APIError {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return APIError.invalid(field, "The field \(field) is required.", code: "missing_field")
        case .typeMismatch(_, let context) where context.codingPath.isEmpty:
            return APIError(.badRequest, code: "invalid_json", message: "The body must be a JSON object.")
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            return APIError.invalid(field, "The field \(field) must be \(typeName(type)).", code: "invalid_field")
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            let field = path(context.codingPath)
            return APIError.invalid(field, "The field \(field) is invalid: \(context.debugDescription)", code: "invalid_field")
        default:
            return APIError(.badRequest, code: "invalid_json", message: "The body is not valid JSON.")
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is Int32.Type, is Int64.Type: "an integer"
        case is Double.Type: "a number"
        case is [String].Type: "an array of strings"
        default: "of type \(type)"
        }
    }

    private static func snake(_ name: String) -> String {
        name.reduce(into: "") { text, character in
            if character.isUppercase { text += "_" + character.lowercased() } else { text.append(character) }
        }
    }

    /// The characters `text` trims: the ASCII spaces the OpenAPI document's
    /// `pattern: "[^ \\t\\r\\n]"` names, so server and document agree exactly.
    static let trimmed: Set<Unicode.Scalar> = [" ", "\t", "\r", "\n"]

    /// Rejects a text field that is blank (only spaces, tabs and line breaks) or
    /// longer than `maxLength` Unicode scalars (what JSON Schema's maxLength counts),
    /// and returns it trimmed.
    static func text(_ value: String, field: String, maxLength: Int) throws -> String {
        guard !value.unicodeScalars.contains("\0") else { throw APIError.invalid(field, "The field \(field) holds a NUL character.", code: "invalid_field") }
        guard value.unicodeScalars.count <= maxLength else { throw APIError.invalid(field, "The field \(field) is longer than \(maxLength) characters.", code: "invalid_field") }
        let scalars = value.unicodeScalars
        guard let first = scalars.firstIndex(where: { !trimmed.contains($0) }), let last = scalars.lastIndex(where: { !trimmed.contains($0) }) else {
            throw APIError.invalid(field, "The field \(field) must not be empty.", code: "invalid_field")
        }
        return String(scalars[first...last])
    }
}
