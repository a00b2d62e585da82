import Foundation
import Testing
import TollgateCore

@Suite struct Base64URLTests {
    /// The hand-written encoder against Foundation's base64 with the URL alphabet and no padding, at every tail length.
    @Test func encodesLikeFoundationWithTheURLAlphabet() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...67 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == expected)
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
    }

    /// Appending writes the same characters after what the buffer holds, and leaves that untouched.
    @Test func appendingWritesTheEncodingAfterTheBuffer() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...67 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var buffer = Array("prefix.".utf8)
            Base64URL.append(bytes, to: &buffer)
            #expect(buffer == Array(("prefix." + Base64URL.encode(bytes)).utf8))
        }
    }

    /// The standard padded encoder (x402's headers) against Foundation's, at every tail length.
    @Test func encodesStandardBase64LikeFoundation() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...67 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(Base64URL.encodeStandard(bytes) == Data(bytes).base64EncodedString())
            #expect(Base64URL.decodeEitherAlphabet(Base64URL.encodeStandard(bytes)) == bytes)
        }
        #expect(Base64URL.encodeStandard([0xFB, 0xFF]) == "+/8=")
        #expect(Base64URL.encodeStandard([0xFB]) == "+w==")
    }

    /// Headers arrive in either alphabet, padded or not, with blanks; tokens have one spelling only.
    @Test func readsHeadersLenientlyAndTokensStrictly() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...40 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let standard = Data(bytes).base64EncodedString()
            #expect(Base64URL.decodeEitherAlphabet(standard) == bytes)
            #expect(Base64URL.decodeEitherAlphabet(" " + standard + "\t") == bytes)
            #expect(Base64URL.decodeEitherAlphabet(Base64URL.encode(bytes)) == bytes)
            if standard.contains(where: { "+/=".contains($0) }) { #expect(Base64URL.decode(standard) == nil) }
        }
        #expect(Base64URL.decodeEitherAlphabet("+/8=") == [0xFB, 0xFF])
        #expect(Base64URL.decodeEitherAlphabet("A") == nil)
        #expect(Base64URL.decodeEitherAlphabet("AB*C") == nil)
        #expect(Base64URL.decode("-_8 ") == nil)
        #expect(Base64URL.decode("") == [])
    }

    /// Strings are escaped where needed and copied as they are elsewhere (quotes, backslashes, control characters,
    /// non-ASCII), and the result is JSON that Foundation reads back to the same text.
    @Test func writerEscapesOnlyWhatJSONRequires() throws {
        let text = "a\"b\\c\n\r\t\u{01}\u{1F}é€/😀 end"
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("k", text)
        writer.endObject()
        #expect(String(decoding: writer.bytes, as: UTF8.self) == #"{"k":"a\"b\\c\n\r\t\u0001\u001fé€/😀 end"}"#)
        let decoded = try JSONSerialization.jsonObject(with: Data(writer.bytes)) as? [String: String]
        #expect(decoded?["k"] == text)
    }
}
