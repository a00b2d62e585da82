import Foundation
import Testing
import TollgateCore

@Suite struct JSONWriterTests {
    @Test func canonicalAuditJSONRoundTrips() throws {
        let event = AuditEvent(correlationId: "tg_1", timeMillis: 1_795_000_000_123, stage: .verify, outcome: .denied,
                               reason: "x\"y\\z", clientId: nil, resource: "datasets",
                               details: ["b": "line\nbreak\ttab\u{1}", "a": "ünïcødé ✓ /slash", "c": ""])
        let bytes = AuditChain.canonicalJSON(event)
        let decoded = try JSONDecoder().decode(AuditEvent.self, from: Data(bytes))
        #expect(decoded == event)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"correlationId":"tg_1","details":{"a":"#))
        #expect(!text.contains("clientId"))
    }

    @Test func hashDependsOnEveryField() {
        let event = AuditEvent(correlationId: "tg_1", timeMillis: 1, stage: .offer, outcome: .issued, details: ["k": "v"])
        var other = event
        other.details["k"] = "w"
        #expect(AuditChain.hash(previous: AuditChain.genesis, event: event) != AuditChain.hash(previous: AuditChain.genesis, event: other))
        #expect(AuditChain.hash(previous: AuditChain.genesis, event: event) == AuditChain.hash(previous: AuditChain.genesis, event: event))
    }
}
