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
    /// (A division of two exact doubles, rounded once: the same double as the decimal's for every amount below 2^53 and
    /// up to 22 decimals, without writing and parsing the decimal on each settlement.)
    func wholeUnits(_ atomic: String?, asset address: String?, network: String?) -> (Asset, Double)? {
        guard let atomic, let address, let asset = asset(address: address, network: network),
              let amount = TokenAmount(atomic: atomic), let units = Double(amount.atomic)
        else { return nil }
        return (asset, units / pow(10, Double(asset.decimals)))
    }
}
