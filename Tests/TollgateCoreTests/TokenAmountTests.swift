import Testing
import TollgateCore

@Suite struct TokenAmountTests {
    @Test(arguments: [
        ("0.01", 6, "10000"), ("1", 6, "1000000"), ("1.5", 6, "1500000"), ("0.000001", 6, "1"), ("0", 6, "0"),
        ("007.5", 2, "750"), ("12", 0, "12"),
    ])
    func decimalToAtomic(decimal: String, decimals: Int, atomic: String) throws {
        let amount = try #require(TokenAmount(decimal: decimal, decimals: decimals))
        #expect(amount.atomic == atomic)
    }

    @Test(arguments: [("10000", 6, "0.01"), ("1000000", 6, "1"), ("1500000", 6, "1.5"), ("1", 6, "0.000001"), ("0", 6, "0"), ("12", 0, "12")])
    func atomicToDecimal(atomic: String, decimals: Int, decimal: String) throws {
        #expect(try #require(TokenAmount(atomic: atomic)).decimalString(decimals: decimals) == decimal)
    }

    @Test(arguments: ["1.2345678", "-1", "", "1e3", "1.", ".", "1,5", " 1", "0x10", "1.2.3", "+1"])
    func rejectsMalformedDecimals(text: String) {
        #expect(TokenAmount(decimal: text, decimals: 6) == nil)
    }

    static let uint256Max = "115792089237316195423570985008687907853269984665640564039457584007913129639935"

    /// ASCII digits only (other scripts' digits, a combining mark, a NUL are not digits), at most 2^256 - 1.
    @Test(arguments: ["", "-1", "+1", "1.0", "1e3", " 1", "1 ", "0x1", String(repeating: "9", count: 79),
                      "115792089237316195423570985008687907853269984665640564039457584007913129639936", "1" + uint256Max,
                      "١٢", "１２", "1\u{301}", "\u{301}1", "12\u{0}"])
    func rejectsMalformedAtomicAmounts(text: String) {
        #expect(TokenAmount(atomic: text) == nil)
    }

    @Test func atomicAmountsAreCanonical() {
        #expect(TokenAmount(atomic: "00010000") == TokenAmount(atomic: "10000"))
        #expect(TokenAmount(atomic: "000")?.atomic == "0")
        #expect(TokenAmount(atomic: "000")?.isZero == true)
        #expect(TokenAmount(atomic: Self.uint256Max)?.atomic == Self.uint256Max)
        // 78 digits with leading zeros are a shorter amount, not an overflow.
        #expect(TokenAmount(atomic: "000" + String(Self.uint256Max.dropFirst(3)))?.atomic == String(Self.uint256Max.dropFirst(3)))
        // A Substring reads like the String it is part of.
        let text = "amount=00042;"
        #expect(TokenAmount(atomic: text.dropFirst(7).dropLast())?.atomic == "42")
    }

    @Test func comparesByMagnitudeNotByText() throws {
        let nine = try #require(TokenAmount(atomic: "9"))
        let ten = try #require(TokenAmount(atomic: "10"))
        let big = try #require(TokenAmount(atomic: "100000000000000000000000000000"))
        #expect(nine < ten)
        #expect(!(ten < nine))
        #expect(ten < big)
        #expect(try #require(TokenAmount(atomic: "0099")) < #require(TokenAmount(atomic: "100")))
        #expect(max(nine, ten, big) == big)
    }
}
