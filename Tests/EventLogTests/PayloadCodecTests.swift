import EventLog
import Foundation
import LZ4
import Testing

@Suite("Payload codec")
struct PayloadCodecTests {
    @Test("LZ4 round-trips empty, tiny, incompressible and 1 MB payloads", arguments: [0, 1, 17, 511, 512, 4096, 1 << 20])
    func lz4RoundTrip(size: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let random = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let text = Array(String(repeating: "{\"delta\":\"the outline grows\"},", count: size / 30 + 1).utf8.prefix(size))
        for input in [random, text] {
            let block = try LZ4Block.compress(input)
            #expect(try LZ4Block.decompress(block, originalSize: input.count) == input)
            let (codec, stored) = PayloadCodec.encode(input)
            #expect(try codec.decode(stored, rawSize: input.count) == input)
            if size < PayloadCodec.compressionThreshold { #expect(codec == .rawJSON) }
        }
    }

    @Test("compressible payloads above the threshold are stored compressed, incompressible ones raw")
    func choosesCodec() {
        let text = Array(String(repeating: "abcdefgh", count: 200).utf8)
        let (codec, stored) = PayloadCodec.encode(text)
        #expect(codec == .lz4JSON)
        #expect(stored.count < text.count / 4)
        var generator = SystemRandomNumberGenerator()
        let noise = (0..<2000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        #expect(PayloadCodec.encode(noise).codec == .rawJSON)
    }

    @Test("a corrupt or truncated block is an error, never garbage")
    func corruptBlock() throws {
        let text = Array(String(repeating: "outline text ", count: 100).utf8)
        let block = try LZ4Block.compress(text)
        #expect(throws: PayloadCodecError.self) { try PayloadCodec.lz4JSON.decode(Array(block.prefix(block.count / 2)), rawSize: text.count) }
        #expect(throws: PayloadCodecError.self) { try PayloadCodec.lz4JSON.decode(block, rawSize: text.count + 1) }
        #expect(throws: PayloadCodecError.self) { try PayloadCodec.lz4JSON.decode([0xFF, 0xFF, 0xFF], rawSize: 100) }
        #expect(throws: PayloadCodecError.self) { try PayloadCodec.rawJSON.decode([1, 2, 3], rawSize: 4) }
    }
}
