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

    /// The preset asset (nil for `custom`).
    var asset: Asset? {
        switch self {
        case .baseSepolia:
            Asset(id: "usdc-base-sepolia", network: "eip155:84532", address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", decimals: 6,
                  eip712Name: "USDC", eip712Version: "2")
        case .base:
            Asset(id: "usdc-base", network: "eip155:8453", address: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", decimals: 6,
                  eip712Name: "USD Coin", eip712Version: "2")
        case .custom: nil
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
