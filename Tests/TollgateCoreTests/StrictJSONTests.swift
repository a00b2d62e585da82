import Foundation
import Testing
@testable import TollgateCore

/// The check that keeps one payload from meaning two things to two parsers.
@Suite struct StrictJSONTests {
    @Test(arguments: [
        #"{}"#, #"[]"#, #"{"a":1,"b":[true,false,null],"c":{"a":"x"}}"#, #" {"a" : -1.5e+3 , "b":"\u00e9\ud83d\ude00"} "#,
        #"{"a":{"b":1},"c":{"b":2}}"#, #""text""#, "0",
    ])
    func wellFormedJSONWithoutRepeatedKeysPasses(text: String) throws {
        #expect(StrictJSON.violation(in: Array(text.utf8)) == nil)
        // The one-pass tree is the tree Foundation's decoder reads.
        let tree = try StrictJSON.parse(Array(text.utf8)).get()
        #expect(tree == JSONValue.parse(Array(text.utf8)))
    }

    @Test(arguments: [
        (#"{"nonce":"1","nonce":"2"}"#, "nonce"),
        (#"{"payload":{"authorization":{},"authorization":{}}}"#, "authorization"),
        (#"{"nonce":"1","\u006eonce":"2"}"#, "nonce"),
        (#"{"a/b":1,"a\/b":2}"#, "a/b"),
        (#"[{"x":1},{"y":1,"y":2}]"#, "y"),
        // The repeated key is named before its value is read, whatever that value is.
        (#"{"a":1,"a":tru}"#, "a"),
        (#"{"a":1,"a":{"b":1,"b":2}}"#, "a"),
    ])
    func aRepeatedKeyIsFoundHoweverItIsSpelled(text: String, key: String) {
        #expect(StrictJSON.violation(in: Array(text.utf8))?.duplicateKey == key)
        #expect(StrictJSON.parse(Array(text.utf8)).violation?.duplicateKey == key)
    }

    @Test(arguments: [
        #"{"a":1,}"#, #"{"a":01}"#, #"{"a":"\x"}"#, #"{"a":"\ud800"}"#, #"{"a":"\udc00x"}"#, "{\"a\":\"\u{01}\"}", #"{"a":1} x"#,
        #"{'a':1}"#, #"{"a":tru}"#, "", #"{"a":1"#, #"{"a":-}"#, #"{"a":1.}"#,
        // Strings the plain (escape-free) path meets: unterminated, ending on a backslash, a control character.
        #""abc"#, #""ab\"#, "\"a\u{09}b\"",
    ])
    func textThatIsNotJSONIsRefused(text: String) {
        for violation in [StrictJSON.violation(in: Array(text.utf8)), StrictJSON.parse(Array(text.utf8)).violation] {
            #expect(violation != nil)
            #expect(violation?.duplicateKey == nil)
        }
    }

    @Test func invalidUTF8InAStringIsRefused() {
        // An overlong encoding, a character cut before the closing quote, and invalid UTF-8 in a key.
        for text: [UInt8] in [[0x22, 0xC0, 0xAF, 0x22], [0x22, 0x61, 0xE2, 0x82, 0x22], [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]] {
            #expect(StrictJSON.violation(in: text) != nil)
            #expect(StrictJSON.parse(text).violation != nil)
        }
    }

    /// A string with an escape after plain text is read whole by the escaping path; escape-free strings with
    /// multi-byte characters by the plain one.
    @Test func stringsReadTheSameOnEitherPath() throws {
        let text = #"{"a\"b":"x\u0041y","caf\u00e9":"€😀","plain":"abc"}"#
        let tree = try StrictJSON.parse(Array(text.utf8)).get()
        #expect(tree == .object(["a\"b": .string("xAy"), "café": .string("€😀"), "plain": .string("abc")]))
        #expect(tree == JSONValue.parse(Array(text.utf8)))
    }

    @Test func nestingIsBounded() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(StrictJSON.violation(in: Array(deep.utf8)) != nil)
        #expect(StrictJSON.parse(Array(deep.utf8)).violation != nil)
        let shallow = String(repeating: "[", count: 20) + String(repeating: "]", count: 20)
        #expect(StrictJSON.violation(in: Array(shallow.utf8)) == nil)
        #expect(StrictJSON.parse(Array(shallow.utf8)).violation == nil)
    }

    /// Numbers read as Foundation's decoder reads them into `JSONValue`: whole values within Int64 are integers
    /// however they are written, so `x402Version: 2.0` means what it meant before.
    @Test(arguments: [
        ("2", JSONValue.integer(2)), ("2.0", .integer(2)), ("2e0", .integer(2)), ("-0", .integer(0)), ("-0.0", .integer(0)),
        ("1.5", .number(1.5)), ("9223372036854775807", .integer(.max)), ("9223372036854775808", .number(9_223_372_036_854_775_808)),
        ("-9223372036854775808", .integer(.min)), ("1E3", .integer(1000)), ("2.5e-1", .number(0.25)),
        // One past the smallest Int64 rounds to -2^63 as a Double, but it is not an Int64.
        ("-9223372036854775809", .number(-9_223_372_036_854_775_808)),
    ])
    func numbersReadAsFoundationReadsThem(text: String, expected: JSONValue) throws {
        let tree = try StrictJSON.parse(Array("{\"n\":\(text)}".utf8)).get()
        #expect(tree["n"] == expected)
        #expect(tree == JSONValue.parse(Array("{\"n\":\(text)}".utf8)))
    }

    /// A number is carried exactly when the tree, written again (`canonicalBytes`), gives it the value it was written
    /// with; what is not (beyond `Int64`, beyond a double's precision) is what a re-encoding gateway must refuse.
    @Test(arguments: [
        ("0", true), ("-0", true), ("-0.0", true), ("1", true), ("9223372036854775807", true), ("-9223372036854775808", true),
        ("0.1", true), ("1.50", true), ("1e2", true), ("1.5E3", true), ("2.0", true), ("1e-5", true), ("123.456", true),
        ("0.30000000000000004", true), ("5e-324", true), ("1.7976931348623157e308", true),
        ("9223372036854775808", false), ("18446744073709551615", false), ("-9223372036854775809", false),
        ("12345678901234567890123", false), ("0.30000000000000001", false), ("9007199254740993.0", false),
        ("1e-400", false), ("3.141592653589793238", false),
        // 0.1 with 17 digits (C's `%.17g`): the same double, written back as "0.1", which a decimal reader reads otherwise.
        ("0.10000000000000001", false),
    ])
    func numbersAreCarriedExactlyOrNot(text: String, exact: Bool) throws {
        for document in ["{\"n\":\(text)}", "[1,{\"a\":[\(text)]},\"x\"]"] {
            #expect(StrictJSON.carriesNumbersExactly(Array(document.utf8)) == exact, "\(document)")
        }
        // The check says what writing the tree again does to the number: the same value, or another.
        let written = try #require(StrictJSON.tree(Array("[\(text)]".utf8))?.canonicalBytes)
        let value = DecimalValue(String(decoding: written.dropFirst().dropLast(), as: UTF8.self))
        #expect((value == DecimalValue(text)) == exact, "\(text) written \(String(decoding: written, as: UTF8.self))")
    }

    @Test func decimalValuesCompareByValue() {
        #expect(DecimalValue("150") == DecimalValue("1.50e2"))
        #expect(DecimalValue("0.0") == DecimalValue("-0"))
        #expect(DecimalValue("1e-5") == DecimalValue("0.00001"))
        #expect(DecimalValue("1.2345678901234568e+22") != DecimalValue("12345678901234567890123"))
        #expect(DecimalValue("-1") != DecimalValue("1"))
        #expect(DecimalValue("1x") == nil && DecimalValue("1e") == nil)
        // A long literal is read in one pass (a million zeros, as a body within its limit could carry).
        let zeros = String(repeating: "0", count: 1_000_000)
        #expect(DecimalValue("0." + zeros + "1") == DecimalValue("1e-1000001"))
        #expect(DecimalValue("1" + zeros) == DecimalValue("1e1000000"))
        #expect(StrictJSON.carriesNumbersExactly(Array("[0.\(zeros)1]".utf8)) == false)
    }

    /// What a decoder could not represent faithfully is refused by the tree, though the text is valid JSON: a number
    /// beyond Double, and two keys that are different bytes but one Swift string (a dictionary would keep one of them).
    @Test func whatATreeCannotHoldIsRefused() {
        #expect(StrictJSON.violation(in: Array(#"{"n":1e400}"#.utf8)) == nil)
        #expect(StrictJSON.parse(Array(#"{"n":1e400}"#.utf8)).violation?.offset == 5)
        let composed = "{\"caf\u{E9}\":1,\"cafe\u{301}\":2}"
        #expect(StrictJSON.violation(in: Array(composed.utf8)) == nil)
        #expect(StrictJSON.parse(Array(composed.utf8)).violation?.duplicateKey != nil)
    }
}

extension Result<JSONValue, StrictJSON.Violation> {
    var violation: StrictJSON.Violation? {
        if case .failure(let violation) = self { return violation }
        return nil
    }
}
