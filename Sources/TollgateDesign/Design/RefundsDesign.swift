/// What happens to a payment settled for an answer that was then not delivered (`refunds:`).
public struct RefundsDesign: Sendable, Hashable, Codable {
    /// true: a `pending_payout` refund record at once; false: held for manual review.
    public var automatic: Bool
    /// Who pays pending refunds out, when the file says.
    public var payoutContact: String?
}
