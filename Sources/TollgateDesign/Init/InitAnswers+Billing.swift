extension InitAnswers {
    /// Question 3: what one payment buys and what it costs.
    public struct Billing: Sendable, Hashable, Codable {
        /// `request` (or `call`), `record`, `file` (billed per file, counted in bytes), `second`, `minute`
        /// (billed per second at a sixtieth of the price), `package`; default `request`.
        public var unit: String?
        /// Decimal price in the asset (`"0.01"`): per payment, or per unit with a quantity rule.
        public var price: String?
        /// `base-sepolia` (default, a test network) or `base` (main net); `custom` with `asset`.
        public var network: String?
        /// Another token than USDC (then `network` may be omitted).
        public var asset: Asset?
        /// The payee address.
        public var payTo: String?
        /// Units priced from the request: `{query: NAME | body: PATH, max: N, default: N}`.
        public var quantity: Quantity?
        /// How delivered records are counted (unit `record`): `{header: NAME}` or `{json_array: PATH}`.
        public var records: Records?
        /// An upstream header reporting seconds of work (units `second`, `minute`); default the latency.
        public var workSecondsHeader: String?
        /// Units in one prepaid package (unit `package`).
        public var packageSize: Int?

        public init(unit: String? = nil, price: String? = nil, network: String? = nil, asset: Asset? = nil, payTo: String? = nil,
                    quantity: Quantity? = nil, records: Records? = nil, workSecondsHeader: String? = nil, packageSize: Int? = nil) {
            self.unit = unit
            self.price = price
            self.network = network
            self.asset = asset
            self.payTo = payTo
            self.quantity = quantity
            self.records = records
            self.workSecondsHeader = workSecondsHeader
            self.packageSize = packageSize
        }

        enum CodingKeys: String, CodingKey {
            case unit, price, network, asset, quantity, records
            case payTo = "pay_to"
            case workSecondsHeader = "work_seconds_header"
            case packageSize = "package_size"
        }
    }

    /// A token other than the preset USDC ones (docs/configuration.md, `assets`).
    public struct Asset: Sendable, Hashable, Codable {
        public var id: String?
        public var network: String?
        public var address: String?
        public var decimals: Int?
        public var eip712Name: String?
        public var eip712Version: String?

        public init(id: String? = nil, network: String? = nil, address: String? = nil, decimals: Int? = nil,
                    eip712Name: String? = nil, eip712Version: String? = nil) {
            self.id = id
            self.network = network
            self.address = address
            self.decimals = decimals
            self.eip712Name = eip712Name
            self.eip712Version = eip712Version
        }

        enum CodingKeys: String, CodingKey {
            case id, network, address, decimals
            case eip712Name = "eip712_name"
            case eip712Version = "eip712_version"
        }
    }

    /// Where the units a request asks for come from; the price is then per unit.
    public struct Quantity: Sendable, Hashable, Codable {
        public var query: String?
        public var body: String?
        public var max: Int?
        public var `default`: Int?

        public init(query: String? = nil, body: String? = nil, max: Int? = nil, default: Int? = nil) {
            self.query = query
            self.body = body
            self.max = max
            self.default = `default`
        }
    }

    /// How the records of a delivered answer are counted.
    public struct Records: Sendable, Hashable, Codable {
        public var header: String?
        public var jsonArray: String?

        public init(header: String? = nil, jsonArray: String? = nil) {
            self.header = header
            self.jsonArray = jsonArray
        }

        enum CodingKeys: String, CodingKey {
            case header
            case jsonArray = "json_array"
        }
    }
}
