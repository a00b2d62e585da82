import TollgateCore

/// The tokens `tollgate init` knows by name (question 3).
public enum InitNetwork: String, Sendable, Hashable, CaseIterable {
    /// USDC on Base Sepolia, a test network: the development facilitator settles it.
    case baseSepolia = "base-sepolia"
    /// USDC on Base main net: real money.
    case base
    /// Another token, described in `billing.asset`.
    case custom

    static let aliases = ["eip155:84532": "base-sepolia", "sepolia": "base-sepolia", "testnet": "base-sepolia", "test": "base-sepolia",
                          "eip155:8453": "base", "mainnet": "base", "base-mainnet": "base", "main": "base"]

    /// The preset asset (nil for `custom`): USDC as `KnownAsset` lists it.
    var asset: Asset? {
        switch self {
        case .baseSepolia: Self.usdc(id: "usdc-base-sepolia", network: "eip155:84532")
        case .base: Self.usdc(id: "usdc-base", network: "eip155:8453")
        case .custom: nil
        }
    }

    private static func usdc(id: String, network: String) -> Asset? {
        KnownAsset.all.first { $0.network == network && $0.symbol == "USDC" }.map {
            Asset(id: id, network: $0.network, address: $0.address, decimals: $0.decimals, eip712Name: $0.eip712Name,
                  eip712Version: $0.eip712Version)
        }
    }

    var label: String {
        switch self {
        case .baseSepolia: "USDC on Base Sepolia (eip155:84532, a test network)"
        case .base: "USDC on Base (eip155:8453, main net: real money)"
        case .custom: "a custom token"
        }
    }
}
