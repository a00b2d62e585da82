import Crypto
import Testing
@testable import TollgateCore

/// `SecretKey` computes HMAC-SHA256 itself (RFC 2104 on swift-crypto's SHA-256): it must agree with swift-crypto's own
/// HMAC for every length of secret (shorter than a block, a block, longer and so hashed first) and of message.
@Suite struct SecretKeyTests {
    @Test(arguments: [16, 32, 63, 64, 65, 100, 200])
    func macsAgreeWithSwiftCryptosHMAC(secretLength: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<secretLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let key = try #require(SecretKey(id: "k", secret: secret))
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 500, 4097] {
            let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret)))
            #expect(key.mac(message) == expected, "secret \(secretLength) bytes, message \(length) bytes")
            // The key is not changed by use: the same message gives the same MAC again.
            #expect(key.mac(message) == expected)
        }
    }

    /// RFC 4231, test case 2 (a short key, so a known answer independent of either implementation's padding) is refused
    /// as a secret (4 bytes); case 6 (131 bytes of 0xaa) is a key longer than a block.
    @Test func aKeyLongerThanABlockMatchesRFC4231() throws {
        let key = try #require(SecretKey(id: "rfc", secret: Array(repeating: 0xAA, count: 131)))
        let mac = key.mac(Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
        #expect(HexString.encode(mac) == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        #expect(SecretKey(id: "rfc", secret: Array("Jefe".utf8)) == nil)
    }
}
