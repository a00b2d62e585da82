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

    /// The route's settings live in one immutable, shared object: a request's journey carries its route through
    /// every state, and copying a struct of a dozen strings, arrays and dictionaries at each transition was a
    /// visible share of a 402's CPU. Copying a `Route` now retains one reference; setting a property (configuration
    /// time only) makes a new object, so it still behaves as a value.
    private final class Storage: Sendable {
        let fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private struct Fields: Sendable, Hashable {
        var method: HTTPRequest.Method?
        var path: PathPattern
        var resource: String
        var description: String
        var mimeType: String
        var scope: String?
        var allowsAnonymous: Bool
        var pricing: Pricing?
        var privateFields: PrivateFields?
        var actionScopes: [String: String] = [:]
        var redeliver: Bool?
        var rails: Set<String>?
        var discovery: Discovery?
    }

    private var storage: Storage

    private mutating func update(_ change: (inout Fields) -> Void) {
        var fields = storage.fields
        change(&fields)
        storage = Storage(fields)
    }

    public static func == (left: Route, right: Route) -> Bool {
        left.storage === right.storage || left.storage.fields == right.storage.fields
    }

    public func hash(into hasher: inout Hasher) { storage.fields.hash(into: &hasher) }

    /// The same for this route and its copies while any of them lives (they share one storage): a cheap key for what is
    /// kept per configured route (`TermsTemplates`).
    var identity: ObjectIdentifier { ObjectIdentifier(storage) }

    public var method: HTTPRequest.Method? {
        get { storage.fields.method }
        set { update { $0.method = newValue } }
    }
    public var path: PathPattern {
        get { storage.fields.path }
        set { update { $0.path = newValue } }
    }
    /// A stable id of the protected resource, used in offers, audit events and metrics.
    public var resource: String {
        get { storage.fields.resource }
        set { update { $0.resource = newValue } }
    }
    public var description: String {
        get { storage.fields.description }
        set { update { $0.description = newValue } }
    }
    public var mimeType: String {
        get { storage.fields.mimeType }
        set { update { $0.mimeType = newValue } }
    }
    /// The scope a client must hold; nil when any identified (or anonymous, if allowed) caller may use it.
    public var scope: String? {
        get { storage.fields.scope }
        set { update { $0.scope = newValue } }
    }
    /// Whether callers without credentials may use (and pay for) it.
    public var allowsAnonymous: Bool {
        get { storage.fields.allowsAnonymous }
        set { update { $0.allowsAnonymous = newValue } }
    }
    /// nil for a free route that is passed through.
    public var pricing: Pricing? {
        get { storage.fields.pricing }
        set { update { $0.pricing = newValue } }
    }
    /// Fields removed from JSON responses unless the client holds `scope` (checked after payment, before delivery).
    public var privateFields: PrivateFields? {
        get { storage.fields.privateFields }
        set { update { $0.privateFields = newValue } }
    }
    /// Actions that need their own scope on top of the route's: an HTTP method (`POST`, `DELETE` …) or a
    /// query parameter written `?export` (present with any value).
    public var actionScopes: [String: String] {
        get { storage.fields.actionScopes }
        set { update { $0.actionScopes = newValue } }
    }
    /// Whether a paid request whose answer was lost after settlement may be forwarded again (the retry of the
    /// same proof gets a fresh answer) rather than refunded; nil: only for safe methods (GET, HEAD).
    public var redeliver: Bool? {
        get { storage.fields.redeliver }
        set { update { $0.redeliver = newValue } }
    }

    /// The rails (by `PaymentRail.name`) this route may be paid through; nil: every rail of the gateway.
    public var rails: Set<String>? {
        get { storage.fields.rails }
        set { update { $0.rails = newValue } }
    }

    /// What the route publishes for discovery (the manifest, the bazaar extension); nil: not listed.
    public var discovery: Discovery? {
        get { storage.fields.discovery }
        set { update { $0.discovery = newValue } }
    }

    /// Whether anyone may call it: open to anonymous callers, with no scope. Only such a route's discovery data goes
    /// into its 402s, which clients pass on to facilitators that may catalogue them publicly; the manifest shows the
    /// others to the callers who may use them.
    public var isPublic: Bool { allowsAnonymous && scope == nil }

    /// Whether a proof of the rail named `rail` may pay this route.
    public func accepts(rail: String) -> Bool {
        rails?.contains(rail) ?? true
    }

    /// Whether `method` on this route may be forwarded twice for one payment.
    public func redeliverable(_ method: HTTPRequest.Method) -> Bool {
        redeliver ?? (method == .get || method == .head)
    }

    /// The scopes this request's actions need.
    public func actionScopesNeeded(method: HTTPRequest.Method, target: String) -> [String] {
        guard !actionScopes.isEmpty else { return [] }
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
        storage = Storage(Fields(method: method, path: path, resource: resource, description: description, mimeType: mimeType,
                                 scope: scope, allowsAnonymous: allowsAnonymous, pricing: pricing, privateFields: privateFields))
    }

    /// Whether the route serves `method` on `path`; `ignoringCase`: its literal segments match whatever the case.
    public func matches(method: HTTPRequest.Method, path: Substring, ignoringCase: Bool = false) -> Bool {
        (self.method == nil || self.method == method || (self.method == .get && method == .head))
            && self.path.matches(path, ignoringCase: ignoringCase)
    }
}
