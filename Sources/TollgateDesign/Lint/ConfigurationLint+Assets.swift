import TollgateConfiguration
import TollgateCore
import TollgateX402

extension ConfigurationLint {
    /// TG117: assets whose address is a known token but whose domain, decimals or network differ.
    static func checkAssets(_ c: inout LintContext) {
        for (index, asset) in c.configuration.assets.enumerated() {
            let known = KnownAsset.at(address: asset.address)
            guard !known.isEmpty else { continue }
            let name = "assets[\(index)] (\(asset.id))"
            guard let token = known.first(where: { $0.network == asset.network }) else {
                let elsewhere = known.map { "\($0.symbol) on \(KnownNetwork.label($0.network))" }
                c.report(.assetMismatch, at: "assets[\(index)].network",
                         "\(name) is on \(KnownNetwork.label(asset.network)), but \(asset.address) is \(elsewhere.listed)",
                         fix: "use the token's address on \(asset.network), or `network: \(known[0].network)`")
                continue
            }
            let what = "\(token.symbol) on \(KnownNetwork.label(token.network))"
            if asset.eip712Name != token.eip712Name {
                c.report(.assetMismatch, at: "assets[\(index)].eip712_name",
                         "\(name) is \(what), whose EIP-712 domain name is \"\(token.eip712Name)\", not \"\(asset.eip712Name)\"",
                         fix: "set `eip712_name: \(token.eip712Name)` on assets[\(index)]")
            }
            if asset.eip712Version != token.eip712Version {
                c.report(.assetMismatch, at: "assets[\(index)].eip712_version",
                         "\(name) is \(what), whose EIP-712 domain version is \"\(token.eip712Version)\", not \"\(asset.eip712Version)\"",
                         fix: "set `eip712_version: \"\(token.eip712Version)\"` on assets[\(index)]")
            }
            if asset.decimals != token.decimals {
                c.report(.assetMismatch, at: "assets[\(index)].decimals",
                         "\(name) is \(what), which has \(token.decimals) decimals, not \(asset.decimals): every price would be off by a power of ten",
                         fix: "set `decimals: \(token.decimals)` on assets[\(index)]")
            }
        }
    }
}
