import Testing
import TollgateCore
@testable import TollgateGateway

/// Revenue in whole tokens: the double of the decimal amount, whatever the token's decimals, by the quick division
/// where it is exact and through the decimal where it is not.
@Suite struct AssetLookupTests {
    static let network = "eip155:84532"

    @Test(arguments: [(6, "10000"), (6, "2500000"), (6, "999999999999999"), (18, "2848953532323955143198"), (18, "1000000000000000000"),
                      (18, "9007199254740993"), (24, "123456789"), (30, "1"), (0, "42"), (36, "115792089237316195423570985008687907853269984665640564039457584007913129639935")])
    func wholeUnitsAreTheDecimalsDouble(decimals: Int, atomic: String) throws {
        let asset = Asset(id: "t\(decimals)", network: Self.network, address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", decimals: decimals,
                          eip712Name: "T", eip712Version: "1")
        let lookup = AssetLookup([asset])
        let (found, whole) = try #require(lookup.wholeUnits(atomic, asset: asset.address.lowercased(), network: Self.network))
        #expect(found.id == asset.id)
        let decimal = try #require(TokenAmount(atomic: atomic)).decimalString(decimals: decimals)
        #expect(whole == Double(decimal), "\(atomic) at \(decimals) decimals: \(whole) against \(decimal)")
    }

    @Test func unknownAssetsAndMalformedAmountsHaveNoWholeUnits() {
        let lookup = AssetLookup([Asset(id: "usdc", network: Self.network, address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", decimals: 6,
                                        eip712Name: "USDC", eip712Version: "2")])
        #expect(lookup.wholeUnits("10000", asset: "0x0000000000000000000000000000000000000001", network: Self.network) == nil)
        #expect(lookup.wholeUnits("1.5", asset: "0x036cbd53842c5426634e7929541ec2318f3dcf7e", network: Self.network) == nil)
        #expect(lookup.wholeUnits(nil, asset: "0x036cbd53842c5426634e7929541ec2318f3dcf7e", network: Self.network) == nil)
    }
}
