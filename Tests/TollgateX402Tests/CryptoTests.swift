import TollgateCore
import Testing

@testable import TollgateX402

/// Vectors checked against eth-account and pycryptodome's Keccak.
@Suite struct CryptoTests {
    static let privateKey = hex("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
    static let from = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    static let signatureHex =
        "0xdc53a4a579de989368a0fae2ef2172ff2f474b4297013f865d171239f17ef4c3157b4b4030f1bebc53d55ace15c2377dff501a60e1e56c291f1000d6e78f082f1b"
    static let digestHex = "0x50708d3bf7216e1aeabe7bf22081b9f36c7c287530f92510318f13a03d89dc86"

    static func hex(_ string: String) -> [UInt8] { HexString.decodeAllowingPrefix(string) ?? [] }

    static func domain() throws -> EIP712Domain {
        EIP712Domain(
            name: "USDC", version: "2", chainId: 84532,
            verifyingContract: try #require(EthereumAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e")))
    }

    static func message() throws -> TransferWithAuthorization {
        TransferWithAuthorization(
            from: try #require(EthereumAddress(from)),
            to: try #require(EthereumAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C")),
            value: "10000", validAfter: "1740672089", validBefore: "1740672154",
            nonce: hex("0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"))
    }

    // MARK: Keccak

    @Test func keccakKnownStrings() {
        #expect(HexString.prefixed(Keccak256.hash([UInt8]())) == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
        #expect(HexString.prefixed(Keccak256.hash("abc".utf8)) == "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")
    }

    /// Inputs of bytes 0, 1, 2, … around the 136-byte rate, where padding bugs hide.
    @Test(arguments: [
        (135, "cbdfd9dee5faad3818d6b06f95a219fd290b0e1706f6a82e5a595b9ce9faca62"),
        (136, "7ce759f1ab7f9ce437719970c26b0a66ff11fe3e38e17df89cf5d29c7d7f807e"),
        (137, "ac73d4fae68b8453f764007c1a20ce95994187861f0c3227a3a8e99a73a3b1db"),
        (272, "fdf2ec49e749960d3c8521a0219af8d03e30e2b3bf19bd16150ee0eaf133d66e"),
        (1000, "aca79e4146e30eb1c733f6d6060d72471c36ea4e01ebf45d7f4916249c2bbd82"),
    ])
    func keccakRateBoundaries(length: Int, expected: String) {
        let input = (0..<length).map { UInt8(truncatingIfNeeded: $0) }
        #expect(HexString.encode(Keccak256.hash(input)) == expected)
        // A non-contiguous sequence takes the gathering path and must agree.
        #expect(HexString.encode(Keccak256.hash(input.lazy.map { $0 })) == expected)
        #expect(HexString.encode(Keccak256.hash(input[...])) == expected)
    }

    // MARK: Hex

    @Test func hexRoundTripAndRejects() {
        #expect(HexString.prefixed([0x00, 0xAB, 0xff]) == "0x00abff")
        #expect(HexString.encode([0x00, 0xAB, 0xff]) == "00abff")
        #expect(HexString.decodeAllowingPrefix("0x00ABff") == [0x00, 0xAB, 0xFF])
        #expect(HexString.decodeAllowingPrefix("0X00abFF") == [0x00, 0xAB, 0xFF])
        #expect(HexString.decodeAllowingPrefix("00abff") == [0x00, 0xAB, 0xFF])
        #expect(HexString.decodeAllowingPrefix("0x") == [])
        #expect(HexString.decodeAllowingPrefix("") == [])
        #expect(HexString.decodeAllowingPrefix("0xabc") == nil)
        #expect(HexString.decodeAllowingPrefix("abc") == nil)
        #expect(HexString.decodeAllowingPrefix("0xzz") == nil)
        #expect(HexString.decodeAllowingPrefix("0x0g") == nil)
        #expect(HexString.decodeAllowingPrefix(" 0x00") == nil)
        #expect(HexString.decodeAllowingPrefix("0x00 ") == nil)
        #expect(HexString.decodeAllowingPrefix("xx00") == nil)
        #expect(HexString.decodeAllowingPrefix("0x\u{e9}0") == nil)
        #expect(HexString.decodeAllowingPrefix("0x0") == nil)
        // A combining mark after the x is not a prefix: one spelling of the bytes only (an earlier version accepted it).
        #expect(HexString.decodeAllowingPrefix("0x\u{301}ab") == nil)
        // Substrings (what a split or a dropped prefix gives), and bare hex, which takes no prefix.
        let field = "nonce=0xA1b2"
        #expect(HexString.decodeAllowingPrefix(field.split(separator: "=")[1]) == [0xA1, 0xB2])
        #expect(HexString.decode(field.dropFirst(8)) == [0xA1, 0xB2])
        #expect(HexString.decode("0x00") == nil)
        #expect(HexString.decode("") == [])
        // Every byte, both cases, round trip.
        let all = (0...255).map(UInt8.init)
        #expect(HexString.decode(HexString.encode(all)) == all)
        #expect(HexString.decodeAllowingPrefix(HexString.prefixed(all).uppercased()) == all)
    }

    // MARK: Addresses

    @Test(arguments: [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0xde709f2102306220921060314715629080e2fb77",
    ])
    func eip55Checksum(_ expected: String) throws {
        let lower = try #require(EthereumAddress(expected.lowercased()))
        let upper = try #require(EthereumAddress("0x" + expected.dropFirst(2).uppercased()))
        #expect(lower.checksummed == expected)
        #expect(upper.checksummed == expected)
        #expect(lower.description == expected)
        #expect(lower.lowercased == expected.lowercased())
        #expect(lower == upper)
    }

    @Test func addressRejects() {
        #expect(EthereumAddress("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed") == nil)
        #expect(EthereumAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe") == nil)
        #expect(EthereumAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00") == nil)
        #expect(EthereumAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg") == nil)
        #expect(EthereumAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe\u{00E9}") == nil)
        #expect(EthereumAddress(bytes: [UInt8](repeating: 1, count: 19)) == nil)
        #expect(EthereumAddress(bytes: [UInt8](repeating: 1, count: 20))?.lowercased == "0x" + String(repeating: "01", count: 20))
    }

    // MARK: uint256 words

    @Test func uint256Words() {
        #expect(UInt256Word.fromDecimal("0") == [UInt8](repeating: 0, count: 32))
        #expect(UInt256Word.fromDecimal("000") == [UInt8](repeating: 0, count: 32))
        #expect(UInt256Word.fromDecimal("10000") == [UInt8](repeating: 0, count: 30) + [0x27, 0x10])
        #expect(UInt256Word.fromDecimal("18446744073709551616") == [UInt8](repeating: 0, count: 23) + [1] + [UInt8](repeating: 0, count: 8))
        #expect(
            UInt256Word.fromDecimal("115792089237316195423570985008687907853269984665640564039457584007913129639935")
                == [UInt8](repeating: 0xFF, count: 32))
        #expect(
            UInt256Word.fromDecimal("00115792089237316195423570985008687907853269984665640564039457584007913129639935")
                == [UInt8](repeating: 0xFF, count: 32))
        for rejected in [
            "115792089237316195423570985008687907853269984665640564039457584007913129639936",
            "1157920892373161954235709850086879078532699846656405640394575840079131296399350",
            "-1", "1.0", "", " 1", "1 ", "+1", "0x10", "1e3", "١",
        ] {
            #expect(UInt256Word.fromDecimal(rejected) == nil, "\(rejected)")
        }
        #expect(UInt256Word.fromUInt64(0) == [UInt8](repeating: 0, count: 32))
        #expect(UInt256Word.fromUInt64(.max) == [UInt8](repeating: 0, count: 24) + [UInt8](repeating: 0xFF, count: 8))
        #expect(UInt256Word.fromUInt64(84532) == UInt256Word.fromDecimal("84532"))
    }

    // MARK: EIP-712

    @Test func eip712Vector() throws {
        let domain = try Self.domain()
        let message = try Self.message()
        #expect(HexString.prefixed(domain.separator) == "0x71f17a3b2ff373b803d70a5a07c046c1a2bc8e89c09ef722fcb047abe94c9818")
        #expect(HexString.prefixed(try #require(message.structHash())) == "0xb2438b1b8298f6129feb7c6a96cb5bee12d7e8ba27c7c27cde803071ebdc42e8")
        #expect(HexString.prefixed(try #require(message.digest(domain: domain))) == Self.digestHex)
    }

    @Test func eip712RejectsBadFields() throws {
        let domain = try Self.domain()
        var message = try Self.message()
        message.nonce = Array(message.nonce.dropLast())
        #expect(message.structHash() == nil)
        #expect(message.digest(domain: domain) == nil)
        message = try Self.message()
        message.value = "1.5"
        #expect(message.digest(domain: domain) == nil)
        message = try Self.message()
        message.validBefore = "-1"
        #expect(message.structHash() == nil)
    }

    // MARK: secp256k1

    @Test func addressOfPrivateKey() {
        #expect(Secp256k1.address(privateKey: Self.privateKey)?.checksummed == Self.from)
        #expect(Secp256k1.address(privateKey: [UInt8](repeating: 0, count: 32)) == nil)
        #expect(Secp256k1.address(privateKey: [UInt8](repeating: 0xFF, count: 32)) == nil)
        #expect(Secp256k1.address(privateKey: Array(Self.privateKey.dropLast())) == nil)
    }

    @Test func signingReproducesVector() throws {
        let digest = try #require(try Self.message().digest(domain: Self.domain()))
        let signature = try #require(Secp256k1.sign(digest: digest, privateKey: Self.privateKey))
        #expect(HexString.prefixed(signature.bytes) == Self.signatureHex)
        #expect(signature.v == 27)
        #expect(signature.isLowS)
        #expect(Secp256k1.sign(digest: Array(digest.dropLast()), privateKey: Self.privateKey) == nil)
        #expect(Secp256k1.sign(digest: digest, privateKey: [UInt8](repeating: 0, count: 32)) == nil)
    }

    @Test func recoveryReturnsSigner() throws {
        let signature = try #require(RecoverableSignature(bytes: Self.hex(Self.signatureHex)))
        let recovered = Secp256k1.recoverAddress(digest: Self.hex(Self.digestHex), signature: signature)
        #expect(recovered?.checksummed == Self.from)
        #expect(Secp256k1.recoverAddress(digest: Array(Self.hex(Self.digestHex).dropLast()), signature: signature) == nil)
    }

    @Test func highSTwinIsRejected() throws {
        let signature = try #require(RecoverableSignature(bytes: Self.hex(Self.signatureHex)))
        let twin = try #require(
            RecoverableSignature(r: signature.r, s: subtract(secp256k1Order, signature.s), v: signature.v == 27 ? 28 : 27))
        #expect(twin.s != signature.s)
        #expect(!twin.isLowS)
        #expect(Secp256k1.recoverAddress(digest: Self.hex(Self.digestHex), signature: twin) == nil)
    }

    @Test func tamperedSignatureDoesNotRecoverSigner() throws {
        var bytes = Self.hex(Self.signatureHex)
        bytes[5] ^= 0x01
        let signature = try #require(RecoverableSignature(bytes: bytes))
        let recovered = Secp256k1.recoverAddress(digest: Self.hex(Self.digestHex), signature: signature)
        #expect(recovered?.checksummed != Self.from)
    }

    @Test func signatureParsing() {
        var bytes = Self.hex(Self.signatureHex)
        #expect(RecoverableSignature(bytes: bytes)?.bytes == bytes)
        for v: UInt8 in [0, 1, 29, 255] {
            bytes[64] = v
            #expect(RecoverableSignature(bytes: bytes) == nil, "v = \(v)")
        }
        bytes[64] = 28
        #expect(RecoverableSignature(bytes: bytes)?.v == 28)
        #expect(RecoverableSignature(bytes: Array(bytes.dropLast())) == nil)
        #expect(RecoverableSignature(bytes: bytes + [0]) == nil)
        #expect(RecoverableSignature(r: [UInt8](repeating: 1, count: 31), s: [UInt8](repeating: 1, count: 32), v: 27) == nil)
    }

    @Test func lowSBoundary() throws {
        let r = [UInt8](repeating: 1, count: 32)
        let half = Self.hex("0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0")
        let halfPlusOne = Self.hex("0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A1")
        #expect(try #require(RecoverableSignature(r: r, s: half, v: 27)).isLowS)
        #expect(try !#require(RecoverableSignature(r: r, s: halfPlusOne, v: 27)).isLowS)
    }

    @Test func randomKeysRoundTrip() throws {
        let key = Secp256k1.randomPrivateKey()
        #expect(key.count == 32)
        #expect(key != Secp256k1.randomPrivateKey())
        let address = try #require(Secp256k1.address(privateKey: key))
        let digest = Keccak256.hash("tollgate".utf8)
        let signature = try #require(Secp256k1.sign(digest: digest, privateKey: key))
        #expect(signature.isLowS)
        #expect(Secp256k1.recoverAddress(digest: digest, signature: signature) == address)
    }
}

/// The secp256k1 group order n, big-endian.
private let secp256k1Order = CryptoTests.hex("0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141")

/// Big-endian a - b for 32-byte values with a >= b.
private func subtract(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
    var result = [UInt8](repeating: 0, count: 32)
    var borrow = 0
    for index in stride(from: 31, through: 0, by: -1) {
        var difference = Int(a[index]) - Int(b[index]) - borrow
        borrow = difference < 0 ? 1 : 0
        if difference < 0 { difference += 256 }
        result[index] = UInt8(difference)
    }
    return result
}
