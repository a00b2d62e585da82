/// The one list of networks Tollgate knows by CAIP-2 id: main nets (real money) and test nets (public test
/// nets and local development chains). The development facilitator serves only test nets, the lint warns about
/// main nets (TG110, TG116), the design report marks test nets, and `tollgate init` and the demo take their
/// presets from here (with `KnownAsset`).
public struct KnownNetwork: Sendable, Hashable {
    /// CAIP-2 id, `eip155:<chain id>`.
    public var id: String
    public var name: String
    public var isMainNet: Bool

    public init(id: String, name: String, isMainNet: Bool) {
        self.id = id
        self.name = name
        self.isMainNet = isMainNet
    }

    /// The EVM chain id.
    public var chainId: UInt64? { ExactEVMVerifier.chainId(id) }

    /// EVM main nets where x402 USDC payments are settled.
    public static let mainNets: [KnownNetwork] = [
        .init(id: "eip155:1", name: "Ethereum", isMainNet: true),
        .init(id: "eip155:10", name: "OP Mainnet", isMainNet: true),
        .init(id: "eip155:137", name: "Polygon PoS", isMainNet: true),
        .init(id: "eip155:143", name: "Monad", isMainNet: true),
        .init(id: "eip155:8453", name: "Base", isMainNet: true),
        .init(id: "eip155:42161", name: "Arbitrum One", isMainNet: true),
        .init(id: "eip155:43114", name: "Avalanche C-Chain", isMainNet: true),
    ]

    /// Base Sepolia: the test net of `tollgate init`'s default, the demo and the development facilitator's default.
    public static let baseSepolia = KnownNetwork(id: "eip155:84532", name: "Base Sepolia", isMainNet: false)
    /// Base: `tollgate init`'s main net preset.
    public static let base = KnownNetwork(id: "eip155:8453", name: "Base", isMainNet: true)

    /// Public test nets and the usual local development chains (Hardhat, Anvil, Ganache): money on them is not real.
    public static let testNets: [KnownNetwork] = [
        baseSepolia,
        .init(id: "eip155:11155111", name: "Sepolia", isMainNet: false),
        .init(id: "eip155:17000", name: "Holesky", isMainNet: false),
        .init(id: "eip155:11155420", name: "OP Sepolia", isMainNet: false),
        .init(id: "eip155:421614", name: "Arbitrum Sepolia", isMainNet: false),
        .init(id: "eip155:80002", name: "Polygon Amoy", isMainNet: false),
        .init(id: "eip155:43113", name: "Avalanche Fuji", isMainNet: false),
        .init(id: "eip155:97", name: "BNB Smart Chain Testnet", isMainNet: false),
        .init(id: "eip155:31337", name: "local development chain", isMainNet: false),
        .init(id: "eip155:1337", name: "local development chain", isMainNet: false),
    ]

    public static func named(_ id: String) -> KnownNetwork? {
        (mainNets + testNets).first { $0.id == id }
    }

    /// Whether `network` is one of `testNets`, spelt exactly (`eip155:84532`; any other spelling, main net or
    /// unknown network is not).
    public static func isTestNetwork(_ network: String) -> Bool {
        testNets.contains { $0.id == network }
    }

    /// `eip155:8453 (Base)`, or the id alone when unknown.
    public static func label(_ id: String) -> String {
        named(id).map { "\(id) (\($0.name))" } ?? id
    }
}
