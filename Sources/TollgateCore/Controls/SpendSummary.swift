/// Settled payments of one client or payer, summed per asset from the payments ledger.
public struct SpendSummary: Sendable, Hashable, Codable {
    /// Money received in one asset.
    public struct Total: Sendable, Hashable, Codable {
        public var network: String
        /// Lowercase asset address.
        public var asset: String
        /// Atomic units, decimal (may exceed uint256 in principle: a sum, not an amount).
        public var amount: String

        public init(network: String, asset: String, amount: String) {
            self.network = network
            self.asset = asset
            self.amount = amount
        }
    }

    /// Number of ledger entries counted.
    public var count: Int
    /// Ordered by network, then asset.
    public var totals: [Total]

    public init(count: Int, totals: [Total]) {
        self.count = count
        self.totals = totals
    }
}
