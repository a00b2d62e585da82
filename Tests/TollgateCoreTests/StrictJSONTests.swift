import Testing
import TollgateCore

/// The check that keeps one payload from meaning two things to two parsers.
@Suite struct StrictJSONTests {
    @Test(arguments: [
        #"{}"#, #"[]"#, #"{"a":1,"b":[true,false,null],"c":{"a":"x"}}"#, #" {"a" : -1.5e+3 , "b":"\u00e9\ud83d\ude00"} "#,
        #"{"a":{"b":1},"c":{"b":2}}"#, #""text""#, "0",
    ])
    func wellFormedJSONWithoutRepeatedKeysPasses(text: String) {
        #expect(StrictJSON.violation(in: Array(text.utf8)) == nil)
    }

    @Test(arguments: [
        (#"{"nonce":"1","nonce":"2"}"#, "nonce"),
        (#"{"payload":{"authorization":{},"authorization":{}}}"#, "authorization"),
        (#"{"nonce":"1","\u006eonce":"2"}"#, "nonce"),
        (#"{"a/b":1,"a\/b":2}"#, "a/b"),
        (#"[{"x":1},{"y":1,"y":2}]"#, "y"),
    ])
    func aRepeatedKeyIsFoundHoweverItIsSpelled(text: String, key: String) {
        #expect(StrictJSON.violation(in: Array(text.utf8))?.duplicateKey == key)
    }

    @Test(arguments: [
        #"{"a":1,}"#, #"{"a":01}"#, #"{"a":"\x"}"#, #"{"a":"\ud800"}"#, #"{"a":"\udc00x"}"#, "{\"a\":\"\u{01}\"}", #"{"a":1} x"#,
        #"{'a':1}"#, #"{"a":tru}"#, "", #"{"a":1"#, #"{"a":-}"#, #"{"a":1.}"#,
    ])
    func textThatIsNotJSONIsRefused(text: String) {
        let violation = StrictJSON.violation(in: Array(text.utf8))
        #expect(violation != nil)
        #expect(violation?.duplicateKey == nil)
    }

    @Test func invalidUTF8InAStringIsRefused() {
        #expect(StrictJSON.violation(in: [0x22, 0xC0, 0xAF, 0x22]) != nil)
    }

    @Test func nestingIsBounded() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(StrictJSON.violation(in: Array(deep.utf8)) != nil)
        let shallow = String(repeating: "[", count: 20) + String(repeating: "]", count: 20)
        #expect(StrictJSON.violation(in: Array(shallow.utf8)) == nil)
    }
}
