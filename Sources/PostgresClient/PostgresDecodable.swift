import Foundation

/// A Swift value that can be read from a binary-format result column.
public protocol PostgresDecodable {
    /// `bytes` is nil for SQL NULL.
    static func decodePostgres(oid: UInt32, bytes: UnsafeRawBufferPointer?) throws -> Self
}

func decodingError(_ type: Any.Type, oid: UInt32, _ why: String) -> PostgresError {
    PostgresError(kind: .decoding, message: "cannot read \(type) from a column of type OID \(oid): \(why)")
}

@inline(__always)
func readBigEndian<T: FixedWidthInteger>(_ type: T.Type, _ bytes: UnsafeRawBufferPointer) -> T {
    var value: T = 0
    withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes.prefix(MemoryLayout<T>.size))) }
    return T(bigEndian: value)
}

func requireBytes(_ bytes: UnsafeRawBufferPointer?, _ type: Any.Type, oid: UInt32) throws -> UnsafeRawBufferPointer {
    guard let bytes else { throw decodingError(type, oid: oid, "the value is NULL") }
    return bytes
}

extension Int64: PostgresDecodable {
    public static func decodePostgres(oid: UInt32, bytes: UnsafeRawBufferPointer?) throws -> Int64 {
        let bytes = try requireBytes(bytes, Self.self, oid: oid)
        switch (oid, bytes.count) {
        case (PostgresOID.int8, 8): return readBigEndian(Int64.self, bytes)
        case (PostgresOID.int4, 4): return Int64(readBigEndian(Int32.self, bytes))
        case (PostgresOID.int2, 2): return Int64(readBigEndian(Int16.self, bytes))
        case (PostgresOID.oid, 4): return Int64(readBigEndian(UInt32.self, bytes))
        default: throw decodingError(Self.self, oid: oid, "not an integer column")
        }
    }
}

extension Int: PostgresDecodable {
    public static func decodePostgres(oid: UInt32, bytes: UnsafeRawBufferPointer?) throws -> Int {
        Int(try Int64.decodePostgres(oid: oid, bytes: bytes))
    }
}

extension Int32: PostgresDecodable {
    public static func decodePostgres(oid: UInt32, bytes: UnsafeRawBufferPointer?) throws -> Int32 {
        let wide = try Int64.decodePostgres(oid: oid, bytes: bytes)
        guard let narrow = Int32(exactly: wide) else { throw decodingError(Self.self, oid: oid, "\(wide) is out of range") }
        return narrow
    }
}

extension Int16: PostgresDecodable {
    public static func decodePostgres(oid: UInt32, bytes: UnsafeRawBufferPointer?) throws -> Int16 {
        let wide = try Int64.decodePostgres(oid: oid, bytes: bytes)
        guard let narrow = Int16(exactly: wide) else { throw decodingError(Self.self, oid: oid, "\(wide) is out of range") }
        return narrow
    }
}

extension Double: PostgresDecodable {
    public static func decodePostgres(oid: UInt32, bytes: UnsafeRawBufferPointer?) throws -> Double {
        let bytes = try requireBytes(bytes, Self.self, oid: oid)
        switch (oid, bytes.count) {
        case (PostgresOID.float8, 8): return Double(bitPattern: readBigEndian(UInt64.self, bytes))
        case (700, 4): return Double(Float(bitPattern: readBigEndian(UInt32.self, bytes)))
        default: return Double(try Int64.decodePostgres(oid: oid, bytes: bytes))
        }
    }
}

extension Bool: PostgresDecodable {
    public static func decodePostgres(oid: UInt32, bytes: UnsafeRawBufferPointer?) throws -> Bool {
        let bytes = try requireBytes(bytes, Self.self, oid: oid)
        guard oid == PostgresOID.bool, bytes.count == 1 else { throw decodingError(Self.self, oid: oid, "not a boolean column") }
        return bytes[0] != 0
    }
}

extension String: PostgresDecodable {
    public static func decodePostgres(oid: UInt32, bytes: UnsafeRawBufferPointer?) throws -> String {
        let bytes = try requireBytes(bytes, Self.self, oid: oid)
        switch oid {
        case PostgresOID.jsonb:
            guard bytes.first == 1 else { throw decodingError(Self.self, oid: oid, "unknown jsonb version") }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes.dropFirst()), as: UTF8.self)
        case PostgresOID.uuid:
            return try UUID.decodePostgres(oid: oid, bytes: bytes).uuidString.lowercased()
        case PostgresOID.int8, PostgresOID.int4, PostgresOID.int2:
            return String(try Int64.decodePostgres(oid: oid, bytes: bytes))
        case PostgresOID.bool:
            return try Bool.decodePostgres(oid: oid, bytes: bytes) ? "true" : "false"
        default:
            // text, varchar, name, json, char and unknown: the binary form is the UTF-8 text.
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

extension UUID: PostgresDecodable {
    public static func decodePostgres(oid: UInt32, bytes: UnsafeRawBufferPointer?) throws -> UUID {
        let bytes = try requireBytes(bytes, Self.self, oid: oid)
        guard oid == PostgresOID.uuid, bytes.count == 16 else { throw decodingError(Self.self, oid: oid, "not a uuid column") }
        var raw: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &raw) { $0.copyMemory(from: bytes) }
        return UUID(uuid: raw)
    }
}

extension Date: PostgresDecodable {
    public static func decodePostgres(oid: UInt32, bytes: UnsafeRawBufferPointer?) throws -> Date {
        let bytes = try requireBytes(bytes, Self.self, oid: oid)
        guard oid == PostgresOID.timestamptz || oid == 1114, bytes.count == 8 else {
            throw decodingError(Self.self, oid: oid, "not a timestamp column")
        }
        let micros = readBigEndian(Int64.self, bytes)
        return PostgresTime.date(microseconds: micros)
    }
}

extension PostgresBytes: PostgresDecodable {
    public static func decodePostgres(oid: UInt32, bytes: UnsafeRawBufferPointer?) throws -> PostgresBytes {
        let bytes = try requireBytes(bytes, Self.self, oid: oid)
        return PostgresBytes(Array(bytes))
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decodePostgres(oid: UInt32, bytes: UnsafeRawBufferPointer?) throws -> Wrapped? {
        guard let bytes else { return nil }
        return try Wrapped.decodePostgres(oid: oid, bytes: bytes)
    }
}
