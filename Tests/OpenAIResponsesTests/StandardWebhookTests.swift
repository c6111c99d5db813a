import Foundation
import OpenAIResponses
import Testing

@Suite("Standard Webhooks: verified before the body is read")
struct StandardWebhookTests {
    // The Standard Webhooks specification's published example.
    static let secret = try! StandardWebhook.Secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    static let id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let timestamp: Int64 = 1_614_265_330
    static let body = Array(#"{"test": 2432232314}"#.utf8)
    static let then = Date(timeIntervalSince1970: TimeInterval(timestamp))

    @Test("the specification's example signature is what sign makes, and it verifies")
    func specificationVector() throws {
        let signature = StandardWebhook.sign(id: Self.id, timestamp: Self.timestamp, body: Self.body, secret: Self.secret)
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        try StandardWebhook(secrets: [Self.secret]).verify(id: Self.id, timestamp: String(Self.timestamp), signature: signature, body: Self.body, now: Self.then)
    }

    @Test("during a rotation either secret verifies, and several signatures are read from one header")
    func rotation() throws {
        let old = try StandardWebhook.Secret("whsec_" + Data(repeating: 7, count: 24).base64EncodedString())
        let verifier = StandardWebhook(secrets: [old, Self.secret])
        let good = StandardWebhook.sign(id: Self.id, timestamp: Self.timestamp, body: Self.body, secret: Self.secret)
        try verifier.verify(id: Self.id, timestamp: String(Self.timestamp), signature: good, body: Self.body, now: Self.then)
        try StandardWebhook(secrets: [Self.secret]).verify(id: Self.id, timestamp: String(Self.timestamp),
                                                          signature: "v1,bm90IGl0 v2,abc " + good, body: Self.body, now: Self.then)
    }

    @Test("a changed body, id or timestamp, another secret, or a stale or future timestamp is refused with why")
    func refusals() throws {
        let verifier = StandardWebhook(secrets: [Self.secret])
        let good = StandardWebhook.sign(id: Self.id, timestamp: Self.timestamp, body: Self.body, secret: Self.secret)
        func refusal(_ id: String?, _ timestamp: String?, _ signature: String?, _ body: [UInt8] = Self.body, now: Date = Self.then) -> StandardWebhook.Refusal? {
            do {
                try verifier.verify(id: id, timestamp: timestamp, signature: signature, body: body, now: now)
                return nil
            } catch let refusal as StandardWebhook.Refusal {
                return refusal
            } catch {
                return nil
            }
        }
        let stamp = String(Self.timestamp)
        #expect(refusal(Self.id, stamp, good, Array(#"{"test": 2432232315}"#.utf8)) == .badSignature)
        #expect(refusal("msg_other", stamp, good) == .badSignature)
        #expect(refusal(Self.id, String(Self.timestamp + 1), good, now: Self.then) == .badSignature)
        let other = try StandardWebhook.Secret("whsec_" + Data(repeating: 9, count: 32).base64EncodedString())
        #expect(refusal(Self.id, stamp, StandardWebhook.sign(id: Self.id, timestamp: Self.timestamp, body: Self.body, secret: other)) == .badSignature)
        #expect(refusal(Self.id, stamp, good, now: Self.then.addingTimeInterval(301)) == .staleTimestamp(secondsOff: 301))
        #expect(refusal(Self.id, stamp, good, now: Self.then.addingTimeInterval(-301)) == .staleTimestamp(secondsOff: -301))
        #expect(refusal(Self.id, stamp, good, now: Self.then.addingTimeInterval(299)) == nil)
        #expect(refusal(nil, stamp, good) == .missingHeader("webhook-id"))
        #expect(refusal(Self.id, nil, good) == .missingHeader("webhook-timestamp"))
        #expect(refusal(Self.id, stamp, nil) == .missingHeader("webhook-signature"))
        #expect(refusal(Self.id, "-9223372036854775808", good) == .malformedHeader("webhook-timestamp"))
        #expect(refusal(Self.id, "soon", good) == .malformedHeader("webhook-timestamp"))
        #expect(refusal(Self.id, stamp, "g0hM9SsE+OTPJTGt") == .malformedHeader("webhook-signature"))
        #expect(refusal(Self.id, stamp, "v1,!!!") == .malformedHeader("webhook-signature"))
        #expect(refusal(String(repeating: "x", count: 300), stamp, good) == .malformedHeader("webhook-id"))
        #expect(throws: StandardWebhook.Refusal.badSecret) { try StandardWebhook.Secret("whsec_short") }
        #expect(throws: StandardWebhook.Refusal.badSecret) { try StandardWebhook.Secret("whsec_not base64!") }
    }
}
