import TollgateCore
import TollgateX402

/// The tokens `tollgate init` knows by name (question 3).
public enum InitNetwork: String, Sendable, Hashable, CaseIterable {
    /// USDC on Base Sepolia, a test network: the development facilitator settles it.
    case baseSepolia = "base-sepolia"
    /// USDC on Base main net: real money.
    case base
    /// Another token, described in `billing.asset`.
    case custom

    static let aliases = [KnownNetwork.baseSepolia.id: "base-sepolia", "sepolia": "base-sepolia", "testnet": "base-sepolia", "test": "base-sepolia",
                          KnownNetwork.base.id: "base", "mainnet": "base", "base-mainnet": "base", "main": "base"]

    /// The preset asset (nil for `custom`): USDC as `KnownAsset` lists it.
    var asset: Asset? {
        switch self {
        case .baseSepolia: Self.usdc(id: "usdc-base-sepolia", network: .baseSepolia)
        case .base: Self.usdc(id: "usdc-base", network: .base)
        case .custom: nil
        }
    }

    private static func usdc(id: String, network: KnownNetwork) -> Asset? {
        KnownAsset.usdc(on: network).map {
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
