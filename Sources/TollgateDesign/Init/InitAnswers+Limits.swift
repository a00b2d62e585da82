extension InitAnswers {
    /// Question 5: limits before payment (`unpaid`), after payment (`paid`, `invalid`), spend and quotas.
    public struct Limits: Sendable, Hashable, Codable {
        public var unpaid: Rate?
        public var paid: Rate?
        public var invalid: Rate?
        public var spendCap: SpendCap?
        public var quota: Quota?

        public init(unpaid: Rate? = nil, paid: Rate? = nil, invalid: Rate? = nil, spendCap: SpendCap? = nil, quota: Quota? = nil) {
            self.unpaid = unpaid
            self.paid = paid
            self.invalid = invalid
            self.spendCap = spendCap
            self.quota = quota
        }

        enum CodingKeys: String, CodingKey {
            case unpaid, paid, invalid, quota
            case spendCap = "spend_cap"
        }
    }

    /// `{rate_per_second: 20, burst: 40}`, or `off`.
    public enum Rate: Sendable, Hashable, Codable {
        case off
        case limit(ratePerSecond: Double, burst: Int)

        enum CodingKeys: String, CodingKey {
            case ratePerSecond = "rate_per_second"
            case burst
        }

        public init(from decoder: any Decoder) throws {
            if let text = try? decoder.singleValueContainer().decode(String.self) {
                guard text == "off" else {
                    throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                            debugDescription: "expected off or {rate_per_second, burst}"))
                }
                self = .off
                return
            }
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let rate = try container.decode(Double.self, forKey: .ratePerSecond)
            self = .limit(ratePerSecond: rate, burst: try container.decodeIfPresent(Int.self, forKey: .burst) ?? Self.defaultBurst(rate))
        }

        /// The burst of a rate given alone: the rate rounded up; 1 for a rate `InitCheck` refuses (infinite, not a number,
        /// beyond an `Int`), which is then refused for its rate rather than stopping the process here.
        static func defaultBurst(_ rate: Double) -> Int {
            rate.isFinite && rate > 0 && rate <= 1_000_000 ? max(1, Int(rate.rounded(.up))) : 1
        }

        public func encode(to encoder: any Encoder) throws {
            switch self {
            case .off:
                var container = encoder.singleValueContainer()
                try container.encode("off")
            case .limit(let rate, let burst):
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(rate, forKey: .ratePerSecond)
                try container.encode(burst, forKey: .burst)
            }
        }
    }

    /// A spend ceiling: `{max: "5.00", per: client | organisation | payer, period: day | month}`.
    public struct SpendCap: Sendable, Hashable, Codable {
        public var max: String?
        public var per: String?
        public var period: String?

        public init(max: String? = nil, per: String? = nil, period: String? = nil) {
            self.max = max
            self.per = per
            self.period = period
        }
    }

    /// A ceiling in metering units: `{max: 10000, per: client | organisation, period: day | month}`.
    public struct Quota: Sendable, Hashable, Codable {
        public var max: Int?
        public var per: String?
        public var period: String?

        public init(max: Int? = nil, per: String? = nil, period: String? = nil) {
            self.max = max
            self.per = per
            self.period = period
        }
    }
}
