/// A token deployment whose EIP-712 domain and decimals are known: the lint's check of configured assets (TG117),
/// and the USDC presets of `tollgate init` and the demo.
public struct KnownAsset: Sendable, Hashable {
    public var network: String
    /// EIP-55 address as published.
    public var address: String
    public var symbol: String
    public var eip712Name: String
    public var eip712Version: String
    public var decimals: Int

    public init(network: String, address: String, symbol: String, eip712Name: String, eip712Version: String, decimals: Int) {
        self.network = network
        self.address = address
        self.symbol = symbol
        self.eip712Name = eip712Name
        self.eip712Version = eip712Version
        self.decimals = decimals
    }

    /// USDC (EIP-3009) deployments, with the values the x402 reference SDK signs with: coinbase/x402
    /// `typescript/packages/mechanisms/evm/src/shared/defaultAssets.ts` (`DEFAULT_STABLECOINS`) and
    /// `docs/core-concepts/network-and-token-support.mdx`, commit dd927a26cfefc98c24b3ec38b3a8f204dad0c60d
    /// (Base and Base Sepolia also in `python/x402/mechanisms/evm/constants.py`, `NETWORK_CONFIGS`).
    /// Note that Base Sepolia's domain name is `USDC` while the main nets' is `USD Coin`. Ethereum and
    /// OP Mainnet USDC are not in that table, so they are not listed here.
    public static let all: [KnownAsset] = [
        .init(network: "eip155:84532", address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", symbol: "USDC",
              eip712Name: "USDC", eip712Version: "2", decimals: 6),
        .init(network: "eip155:8453", address: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", symbol: "USDC",
              eip712Name: "USD Coin", eip712Version: "2", decimals: 6),
        .init(network: "eip155:137", address: "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359", symbol: "USDC",
              eip712Name: "USD Coin", eip712Version: "2", decimals: 6),
        .init(network: "eip155:42161", address: "0xaf88d065e77c8cC2239327C5EDb3A432268e5831", symbol: "USDC",
              eip712Name: "USD Coin", eip712Version: "2", decimals: 6),
        .init(network: "eip155:421614", address: "0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d", symbol: "USDC",
              eip712Name: "USD Coin", eip712Version: "2", decimals: 6),
        .init(network: "eip155:143", address: "0x754704Bc059F8C67012fEd69BC8A327a5aafb603", symbol: "USDC",
              eip712Name: "USD Coin", eip712Version: "2", decimals: 6),
    ]

    /// USDC on `network`, nil when it is not listed.
    public static func usdc(on network: KnownNetwork) -> KnownAsset? {
        all.first { $0.network == network.id && $0.symbol == "USDC" }
    }

    /// Deployments at this address (compared case-insensitively), on any network.
    public static func at(address: String) -> [KnownAsset] {
        all.filter { $0.address.lowercased() == address.lowercased() }
    }
}
