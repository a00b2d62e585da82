/// What a paid route charges, how it counts units, and when it settles.
public struct PricingDesign: Sendable, Hashable, Codable {
    /// The configured price (per payment, per unit for a quantity rule, per package).
    public var price: String
    /// `fixed` (price per payment), `per_unit` (price × requested quantity) or `package` (price per package).
    public var rule: String
    public var unit: String
    public var quantity: QuantityDesign
    /// `quoted`, `header NAME`, `json_array PATH`, `body_bytes` or `elapsed_seconds`.
    public var measure: String
    /// `on_success` or `on_request`.
    public var consumed: String
    /// `after` or `before`.
    public var settle: String
    public var package: PackageDesign?
    public var accepts: [AcceptDesign]
    /// The largest single payment, in the first accepted asset (price, price × max quantity, or the package price).
    public var maxPayment: String
    /// The most one request costs, in the first accepted asset (a package's price ÷ its units, rounded up).
    public var maxChargePerRequest: String
    public var offerValiditySeconds: Int
    public var maxTimeoutSeconds: Int
}
