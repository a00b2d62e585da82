/// A token a route can be paid in, on one network.
public struct Asset: Sendable, Hashable {
    /// The configuration's name for it (`usdc-base-sepolia`).
    public var id: String
    /// CAIP-2 network id (`eip155:84532`).
    public var network: String
    /// The token contract address as configured (EIP-55 or lowercase hex).
    public var address: String
    public var decimals: Int
    /// The token's EIP-712 domain name and version (`USDC` / `2` on Base Sepolia).
    public var eip712Name: String
    public var eip712Version: String

    public init(id: String, network: String, address: String, decimals: Int, eip712Name: String, eip712Version: String) {
        self.id = id
        self.network = network
        self.address = address
        self.decimals = decimals
        self.eip712Name = eip712Name
        self.eip712Version = eip712Version
    }
}
