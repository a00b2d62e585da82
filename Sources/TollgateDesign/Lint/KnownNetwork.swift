/// Networks the lint knows by CAIP-2 id: main nets (real money) and test nets (TG110, TG116).
public struct KnownNetwork: Sendable, Hashable {
    public var id: String
    public var name: String
    public var isMainNet: Bool

    public init(id: String, name: String, isMainNet: Bool) {
        self.id = id
        self.name = name
        self.isMainNet = isMainNet
    }

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

    /// Public test nets and the usual local development chains (Hardhat, Anvil, Ganache).
    public static let testNets: [KnownNetwork] = [
        .init(id: "eip155:84532", name: "Base Sepolia", isMainNet: false),
        .init(id: "eip155:11155111", name: "Sepolia", isMainNet: false),
        .init(id: "eip155:11155420", name: "OP Sepolia", isMainNet: false),
        .init(id: "eip155:421614", name: "Arbitrum Sepolia", isMainNet: false),
        .init(id: "eip155:80002", name: "Polygon Amoy", isMainNet: false),
        .init(id: "eip155:43113", name: "Avalanche Fuji", isMainNet: false),
        .init(id: "eip155:31337", name: "local development chain", isMainNet: false),
        .init(id: "eip155:1337", name: "local development chain", isMainNet: false),
    ]

    public static func named(_ id: String) -> KnownNetwork? {
        (mainNets + testNets).first { $0.id == id }
    }

    /// `eip155:8453 (Base)`, or the id alone when unknown.
    public static func label(_ id: String) -> String {
        named(id).map { "\(id) (\($0.name))" } ?? id
    }
}
