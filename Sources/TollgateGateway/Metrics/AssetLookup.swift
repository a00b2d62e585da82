import Foundation
import TollgateCore

/// The configured assets by contract address, to label amounts with the asset's id and turn atomic
/// amounts into whole tokens for the amount counters.
struct AssetLookup: Sendable {
    private let byNetworkAddress: [String: Asset]
    private let byAddress: [String: Asset]

    init(_ assets: [Asset]) {
        byNetworkAddress = Dictionary(assets.map { ("\($0.network) \($0.address.lowercased())", $0) }) { first, _ in first }
        byAddress = Dictionary(assets.map { ($0.address.lowercased(), $0) }) { first, _ in first }
    }

    func asset(address: String, network: String?) -> Asset? {
        let address = address.lowercased()
        return network.flatMap { byNetworkAddress["\($0) \(address)"] } ?? byAddress[address]
    }

    /// The configured asset and `atomic` in its whole units (10000 of a 6-decimal token → 0.01); nil when
    /// the asset is not configured or the amount is not an atomic amount.
    /// Amounts of at most 15 digits with at most 22 decimals (stablecoin prices) are one division of two exact doubles,
    /// rounded once: the double of the decimal itself, without writing and parsing it on each settlement. Others (an
    /// 18-decimal token's amounts pass 2^53 early) go through the decimal, as the division could differ in the last bit.
    func wholeUnits(_ atomic: String?, asset address: String?, network: String?) -> (Asset, Double)? {
        guard let atomic, let address, let asset = asset(address: address, network: network), let amount = TokenAmount(atomic: atomic)
        else { return nil }
        if amount.atomic.utf8.count <= 15, asset.decimals <= 22, let units = Double(amount.atomic) {
            return (asset, units / pow(10, Double(asset.decimals)))
        }
        return Double(amount.decimalString(decimals: asset.decimals)).map { (asset, $0) }
    }
}
