import HTTPTypes

/// One configured route: which requests it covers, who may use it, and what it costs.
public struct Route: Sendable, Hashable {
    /// What a paid route charges.
    public struct Pricing: Sendable, Hashable {
        /// The price as a human decimal of each accepted asset ("0.01").
        public var price: String
        /// Accepted assets, in the order they are offered, with the payee for each.
        public var accepts: [Acceptance]
        /// The metering unit (`request`, `record`, …) and how many units one payment buys.
        public var unit: String
        public var quantity: Int
        /// How long an offer may be presented, in seconds.
        public var offerValiditySeconds: Int
        /// x402 `maxTimeoutSeconds`: how long the client's authorization should stay valid.
        public var maxTimeoutSeconds: Int
        /// The unit, quantity rule, measurement, moment of consumption, settlement timing and package.
        public var metering = Metering()
        /// Set on quoted terms priced per unit: the configured price of one unit (`price` is then the total).
        public var unitPrice: String?

        /// The terms for one request asking for `quantity` units: a per-unit price times the quantity, a
        /// package's price for its units, or the fixed price as configured. nil when the amount overflows.
        public func quoting(_ quantity: Int) -> Pricing? {
            var quoted = self
            if let package = metering.package {
                quoted.quantity = package.units
                return quoted
            }
            guard metering.pricesPerUnit else { return quoted }
            quoted.unitPrice = price
            quoted.quantity = quantity
            quoted.accepts = []
            for acceptance in accepts {
                guard let total = acceptance.amount.multiplied(by: quantity) else { return nil }
                quoted.accepts.append(Acceptance(asset: acceptance.asset, amount: total, payTo: acceptance.payTo))
            }
            if let first = quoted.accepts.first { quoted.price = first.amount.decimalString(decimals: first.asset.decimals) }
            return quoted
        }

        public init(price: String, accepts: [Acceptance], unit: String, quantity: Int, offerValiditySeconds: Int, maxTimeoutSeconds: Int) {
            self.price = price
            self.accepts = accepts
            self.unit = unit
            self.quantity = quantity
            self.offerValiditySeconds = offerValiditySeconds
            self.maxTimeoutSeconds = maxTimeoutSeconds
        }
    }

    /// One way to pay: an asset, the amount in it and who receives it.
    public struct Acceptance: Sendable, Hashable {
        public var asset: Asset
        public var amount: TokenAmount
        public var payTo: String

        public init(asset: Asset, amount: TokenAmount, payTo: String) {
            self.asset = asset
            self.amount = amount
            self.payTo = payTo
        }
    }

    public var method: HTTPRequest.Method?
    public var path: PathPattern
    /// A stable id of the protected resource, used in offers, audit events and metrics.
    public var resource: String
    public var description: String
    public var mimeType: String
    /// The scope a client must hold; nil when any identified (or anonymous, if allowed) caller may use it.
    public var scope: String?
    /// Whether callers without credentials may use (and pay for) it.
    public var allowsAnonymous: Bool
    /// nil for a free route that is passed through.
    public var pricing: Pricing?
    /// Fields removed from JSON responses unless the client holds `scope` (checked after payment, before delivery).
    public var privateFields: PrivateFields?
    /// Actions that need their own scope on top of the route's: an HTTP method (`POST`, `DELETE` …) or a
    /// query parameter written `?export` (present with any value).
    public var actionScopes: [String: String] = [:]

    /// Whether a paid request whose answer was lost after settlement may be forwarded again (the retry of the
    /// same proof gets a fresh answer) rather than refunded; nil: only for safe methods (GET, HEAD).
    public var redeliver: Bool?

    /// Whether `method` on this route may be forwarded twice for one payment.
    public func redeliverable(_ method: HTTPRequest.Method) -> Bool {
        redeliver ?? (method == .get || method == .head)
    }

    /// The scopes this request's actions need.
    public func actionScopesNeeded(method: HTTPRequest.Method, target: String) -> [String] {
        // Decoded like the upstream decodes them: `?expor%74` is the export action too.
        let parameters = Set(QueryString.items(target).map(\.name))
        return actionScopes.compactMap { action, scope in
            if action.hasPrefix("?") { return parameters.contains(String(action.dropFirst())) ? scope : nil }
            return action.uppercased() == method.rawValue ? scope : nil
        }.sorted()
    }

    public struct PrivateFields: Sendable, Hashable {
        public var scope: String
        public var fields: Set<String>
        public init(scope: String, fields: Set<String>) {
            self.scope = scope
            self.fields = fields
        }
    }

    public init(method: HTTPRequest.Method?, path: PathPattern, resource: String, description: String, mimeType: String,
                scope: String?, allowsAnonymous: Bool, pricing: Pricing?, privateFields: PrivateFields? = nil) {
        self.privateFields = privateFields
        self.method = method
        self.path = path
        self.resource = resource
        self.description = description
        self.mimeType = mimeType
        self.scope = scope
        self.allowsAnonymous = allowsAnonymous
        self.pricing = pricing
    }

    public func matches(method: HTTPRequest.Method, path: Substring) -> Bool {
        (self.method == nil || self.method == method || (self.method == .get && method == .head)) && self.path.matches(path)
    }
}

/// The routes in configuration order; the first match wins.
public struct RouteTable: Sendable {
    public var routes: [Route]
    public init(_ routes: [Route]) { self.routes = routes }

    public func match(method: HTTPRequest.Method, path: Substring) -> Route? {
        routes.first { $0.matches(method: method, path: path) }
    }
}
