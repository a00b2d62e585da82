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
        #expect(JSONFieldFilter.strip(Array(#"{"x": 1,}"#.utf8), fields: ["x"]) == nil)
        #expect(JSONFieldFilter.strip(Array(#"{"x": 1} trailing"#.utf8), fields: ["x"]) == nil)
    }

    /// Every position of the removed members (first, middle, last, runs, all of them) leaves valid JSON with the
    /// commas right and the kept text as it was.
    @Test(arguments: [
        (#"{"p": 1, "a": 2}"#, #"{"a": 2}"#, 1),
        (#"{"a": 2, "p": 1}"#, #"{"a": 2}"#, 1),
        (#"{"a": 1, "p": 2, "b": 3}"#, #"{"a": 1, "b": 3}"#, 1),
        (#"{"a": 1, "p": 2, "q": 3}"#, #"{"a": 1}"#, 2),
        (#"{"p": 1, "q": 2, "a": 3}"#, #"{"a": 3}"#, 2),
        (#"{"p": 1, "q": 2}"#, #"{}"#, 2),
        (#"{"p":{"q":1,"a":2},"a":[{"q":[1,{"p":0}]},3]}"#, #"{"a":[{},3]}"#, 2),
        (#"[{"a":1,"p":2},{"p":3},"p"]"#, #"[{"a":1},{},"p"]"#, 2),
        ("{\n  \"a\": 1,\n  \"p\": 2\n}", "{\n  \"a\": 1\n}", 1),
        (#"{"\u0071": 1, "\u0070": 2, "pq": 3}"#, #"{"pq": 3}"#, 2),
    ])
    func cutsMembersWherever(_ input: String, _ expected: String, _ count: Int) throws {
        let filtered = try #require(JSONFieldFilter.strip(Array(input.utf8), fields: ["p", "q"]))
        #expect(String(decoding: filtered.body, as: UTF8.self) == expected)
        #expect(filtered.removed == count)
        _ = try JSONSerialization.jsonObject(with: Data(filtered.body), options: [.fragmentsAllowed])
    }

    /// Upstream answers may repeat a key or nest deeper than a payment payload may: both are filtered, every copy goes.
    @Test func filtersRepeatedKeysAndDeepDocuments() throws {
        let repeated = try #require(JSONFieldFilter.strip(Array(#"{"p": 1, "a": 2, "p": 3}"#.utf8), fields: ["p"]))
        #expect(String(decoding: repeated.body, as: UTF8.self) == #"{"a": 2}"#)
        let deep = String(repeating: "[", count: 100) + #"{"p": 1}"# + String(repeating: "]", count: 100)
        let filtered = try #require(JSONFieldFilter.strip(Array(deep.utf8), fields: ["p"]))
        #expect(String(decoding: filtered.body, as: UTF8.self) == String(repeating: "[", count: 100) + "{}" + String(repeating: "]", count: 100))
        let tooDeep = String(repeating: "[", count: JSONFieldFilter.maxDepth + 1) + String(repeating: "]", count: JSONFieldFilter.maxDepth + 1)
        #expect(JSONFieldFilter.strip(Array(tooDeep.utf8), fields: ["p"]) == nil)
    }
}
