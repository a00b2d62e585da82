import Foundation
import Testing
import TollgateCore

@Suite struct JSONFieldFilterTests {
    @Test func removesNamedFieldsAtAnyDepth() throws {
        let body = Array(#"{"records":[{"symbol":"A","trader_id":"T1"},{"symbol":"B","trader_id":"T2","desk":{"trader_id":"x"}}],"trader_id":1}"#.utf8)
        let filtered = try #require(JSONFieldFilter.strip(body, fields: ["trader_id"]))
        #expect(filtered.removed == 4)
        let text = String(decoding: filtered.body, as: UTF8.self)
        #expect(!text.contains("trader_id"))
        #expect(text.contains(#""symbol":"B""#))
    }

    @Test func leavesBodiesWithoutThoseFieldsUntouched() throws {
        let body = Array(#"{"b": 1, "a": [1, 2]}"#.utf8)
        let filtered = try #require(JSONFieldFilter.strip(body, fields: ["secret"]))
        #expect(filtered.removed == 0)
        #expect(filtered.body == body)
    }

    @Test func refusesWhatIsNotJSON() {
        #expect(JSONFieldFilter.strip(Array("<html>".utf8), fields: ["x"]) == nil)
    }
}
