import Foundation

/// A Swift value that can be sent to PostgreSQL as a binary query parameter.
///
/// Values always travel as parameters, never spliced into SQL text, so no input
/// can change the meaning of a statement.
public protocol PostgresEncodable: Sendable {
    static var postgresOID: UInt32 { get }
    /// The OID of an array whose elements are this type.
    static var postgresArrayOID: UInt32 { get }
    func encodePostgres(into buffer: inout [UInt8])
}

extension PostgresEncodable {
    public static var postgresArrayOID: UInt32 { PostgresOID.unspecified }
}

@inline(__always)
func appendBigEndian<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
    withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
}

extension Int64: PostgresEncodable {
    public static var postgresOID: UInt32 { PostgresOID.int8 }
    public static var postgresArrayOID: UInt32 { PostgresOID.int8Array }
    public func encodePostgres(into buffer: inout [UInt8]) { appendBigEndian(self, to: &buffer) }
}

extension Int: PostgresEncodable {
    public static var postgresOID: UInt32 { PostgresOID.int8 }
    public static var postgresArrayOID: UInt32 { PostgresOID.int8Array }
    public func encodePostgres(into buffer: inout [UInt8]) { appendBigEndian(Int64(self), to: &buffer) }
}

extension Int32: PostgresEncodable {
    public static var postgresOID: UInt32 { PostgresOID.int4 }
    public static var postgresArrayOID: UInt32 { PostgresOID.int4Array }
    public func encodePostgres(into buffer: inout [UInt8]) { appendBigEndian(self, to: &buffer) }
}

extension Int16: PostgresEncodable {
    public static var postgresOID: UInt32 { PostgresOID.int2 }
    public static var postgresArrayOID: UInt32 { PostgresOID.int2Array }
    public func encodePostgres(into buffer: inout [UInt8]) { appendBigEndian(self, to: &buffer) }
}

extension Bool: PostgresEncodable {
    public static var postgresOID: UInt32 { PostgresOID.bool }
    public static var postgresArrayOID: UInt32 { PostgresOID.boolArray }
    public func encodePostgres(into buffer: inout [UInt8]) { buffer.append(self ? 1 : 0) }
}

extension String: PostgresEncodable {
    public static var postgresOID: UInt32 { PostgresOID.text }
    public static var postgresArrayOID: UInt32 { PostgresOID.textArray }
    public func encodePostgres(into buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
}

extension UUID: PostgresEncodable {
    public static var postgresOID: UInt32 { PostgresOID.uuid }
    public static var postgresArrayOID: UInt32 { PostgresOID.uuidArray }
    public func encodePostgres(into buffer: inout [UInt8]) {
        withUnsafeBytes(of: uuid) { buffer.append(contentsOf: $0) }
    }
}

/// PostgreSQL counts timestamps in microseconds from 2000-01-01 UTC; these are
/// the one conversion both ways, so a timestamp kept elsewhere in PostgreSQL's
/// units (an event segment) reads back as the very `Date` its column gives.
public enum PostgresTime {
    static let epochOffsetSeconds: Double = 946_684_800

    public static func date(microseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(microseconds) / 1_000_000 + epochOffsetSeconds)
    }

    /// Rounded to PostgreSQL's microsecond.
    public static func microseconds(_ date: Date) -> Int64 {
        Int64(((date.timeIntervalSince1970 - epochOffsetSeconds) * 1_000_000).rounded())
    }
}

extension Date: PostgresEncodable {
    public static var postgresOID: UInt32 { PostgresOID.timestamptz }
    public static var postgresArrayOID: UInt32 { PostgresOID.timestamptzArray }
    public func encodePostgres(into buffer: inout [UInt8]) {
        appendBigEndian(PostgresTime.microseconds(self), to: &buffer)
    }
}

/// Raw bytes, sent as `bytea`.
public struct PostgresBytes: PostgresEncodable, Hashable {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public static var postgresOID: UInt32 { PostgresOID.bytea }
    public static var postgresArrayOID: UInt32 { PostgresOID.byteaArray }
    public func encodePostgres(into buffer: inout [UInt8]) { buffer.append(contentsOf: bytes) }
}

/// A JSON document sent as `jsonb` (binary format: version byte 1, then the text).
public struct PostgresJSONB: PostgresEncodable {
    public var utf8: [UInt8]
    public init(utf8: [UInt8]) { self.utf8 = utf8 }
    public init(_ text: String) { self.utf8 = Array(text.utf8) }
    public static var postgresOID: UInt32 { PostgresOID.jsonb }
    public func encodePostgres(into buffer: inout [UInt8]) {
        buffer.append(1)
        buffer.append(contentsOf: utf8)
    }
}

/// A one-dimensional array parameter, in PostgreSQL's binary array format.
/// `nil` elements are sent as SQL NULL.
public struct PostgresArray<Element: PostgresEncodable>: PostgresEncodable {
    public var elements: [Element?]
    public init(_ elements: [Element?]) { self.elements = elements }
    public init(_ elements: [Element]) { self.elements = elements.map { $0 } }

    public static var postgresOID: UInt32 { Element.postgresArrayOID }

    public func encodePostgres(into buffer: inout [UInt8]) {
        let hasNull = elements.contains { $0 == nil }
        if elements.isEmpty {
            appendBigEndian(Int32(0), to: &buffer)
            appendBigEndian(Int32(0), to: &buffer)
            appendBigEndian(Element.postgresOID, to: &buffer)
            return
        }
        appendBigEndian(Int32(1), to: &buffer)
        appendBigEndian(Int32(hasNull ? 1 : 0), to: &buffer)
        appendBigEndian(Element.postgresOID, to: &buffer)
        appendBigEndian(Int32(elements.count), to: &buffer)
        appendBigEndian(Int32(1), to: &buffer)
        var scratch: [UInt8] = []
        for element in elements {
            guard let element else {
                appendBigEndian(Int32(-1), to: &buffer)
                continue
            }
            scratch.removeAll(keepingCapacity: true)
            element.encodePostgres(into: &scratch)
            appendBigEndian(Int32(scratch.count), to: &buffer)
            buffer.append(contentsOf: scratch)
        }
    }
}
