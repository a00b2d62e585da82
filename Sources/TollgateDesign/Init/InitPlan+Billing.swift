import TollgateCore

extension InitPlan {
    struct BillingPart {
        var unit = InitUnit.request, price = "", routePrice = "", network = InitNetwork.baseSepolia
        var asset = InitNetwork.baseSepolia.asset!, payTo = ""
        var quantity: Quantity?, records: Records?, workSecondsHeader: String?, packageSize: Int?
    }

    // MARK: 3. billing

    static func billing(_ answers: InitAnswers, anonymous: Bool, _ problems: inout InitProblems) -> BillingPart {
        let given = answers.billing
        var part = BillingPart()
        part.unit = problems.optional(given.unit) {
            InitUnit(rawValue: try InitCheck.choice($0, InitUnit.allCases.map(\.rawValue), aliases: InitUnit.aliases, field: "billing.unit",
                                                    what: "unit"))!
        } ?? InitDefaults.unit

        let networkText = given.network ?? (given.asset != nil ? InitNetwork.custom.rawValue : InitDefaults.network.rawValue)
        part.network = problems.check {
            InitNetwork(rawValue: try InitCheck.choice(networkText, InitNetwork.allCases.map(\.rawValue), aliases: InitNetwork.aliases,
                                                       field: "billing.network", what: "network"))!
        } ?? InitDefaults.network
        if let preset = part.network.asset {
            part.asset = preset
            if given.asset != nil { problems.add(.conflict("billing.asset", "a custom asset needs network: custom (not \(part.network.rawValue))")) }
        } else if let custom = customAsset(given.asset, &problems) {
            part.asset = custom
        }

        part.price = problems.required(given.price, "billing.price", "the price, e.g. 0.01") {
            try InitCheck.price($0, decimals: part.asset.decimals, field: "billing.price")
        } ?? ""
        part.routePrice = part.price
        if part.unit == .minute, !part.price.isEmpty, let amount = TokenAmount(decimal: part.price, decimals: part.asset.decimals) {
            let (quotient, remainder) = amount.divided(by: 60)
            if remainder != 0 || quotient.isZero {
                problems.add(.invalid("billing.price", "\(part.price) per minute is not a whole number of the token's smallest units per second; "
                                      + "give a price per minute divisible by 60 units of 10^-\(part.asset.decimals), or bill per second"))
            } else {
                part.routePrice = quotient.decimalString(decimals: part.asset.decimals)
            }
        }
        part.payTo = problems.required(given.payTo, "billing.pay_to", "the address payments go to (0x…)") {
            try InitCheck.address($0, field: "billing.pay_to")
        } ?? ""

        if let rule = given.quantity {
            part.quantity = quantity(rule, unit: part.unit, answers: answers, &problems)
        }
        if part.unit == .record {
            part.records = records(given.records ?? InitDefaults.records, &problems)
        } else if given.records != nil {
            problems.add(.conflict("billing.records", "records are counted only with unit record (the unit is \(part.unit.rawValue))"))
        }
        if let header = given.workSecondsHeader {
            if part.unit == .second || part.unit == .minute {
                part.workSecondsHeader = problems.check { try InitCheck.headerName(header, field: "billing.work_seconds_header") }
            } else {
                problems.add(.conflict("billing.work_seconds_header", "seconds of work are counted only with unit second or minute"))
            }
        }
        if part.unit == .package {
            part.packageSize = problems.check {
                try InitCheck.integer(given.packageSize ?? InitDefaults.packageSize, in: 1...100_000_000, field: "billing.package_size",
                                      what: "the package size")
            }
            if anonymous {
                problems.add(.conflict("billing.unit", "a package is a prepaid balance of an identified client; anonymous payers cannot buy one "
                                       + "(identity: api_keys or jwt, without anonymous)"))
            }
        } else if given.packageSize != nil {
            problems.add(.conflict("billing.package_size", "a package size needs unit package (the unit is \(part.unit.rawValue))"))
        }
        return part
    }

    static func customAsset(_ given: InitAnswers.Asset?, _ problems: inout InitProblems) -> Asset? {
        guard let given else {
            problems.add(.missing("billing.asset", "network custom needs billing.asset {id, network, address, decimals, eip712_name, eip712_version}"))
            return nil
        }
        let id = problems.check { try InitCheck.identifier(given.id ?? "token", field: "billing.asset.id", what: "the asset id") }
        let network = problems.required(given.network, "billing.asset.network", "the CAIP-2 network, e.g. eip155:84532") { text in
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw InitAnswerError.invalid("billing.asset.network", "\"\(text)\" is not a CAIP-2 network id like eip155:84532")
            }
            return text
        }
        let address = problems.required(given.address, "billing.asset.address", "the token contract address") {
            try InitCheck.address($0, field: "billing.asset.address")
        }
        let decimals = problems.check { try InitCheck.integer(given.decimals ?? 6, in: 0...36, field: "billing.asset.decimals", what: "decimals") }
        let name = problems.required(given.eip712Name, "billing.asset.eip712_name", "the token's EIP-712 domain name") { $0 }
        let version = problems.required(given.eip712Version, "billing.asset.eip712_version", "the token's EIP-712 domain version") { $0 }
        guard let id, let network, let address, let decimals, let name, let version else { return nil }
        return Asset(id: id, network: network, address: address, decimals: decimals, eip712Name: name, eip712Version: version)
    }

    static func quantity(_ rule: InitAnswers.Quantity, unit: InitUnit, answers: InitAnswers, _ problems: inout InitProblems) -> Quantity? {
        guard unit != .file && unit != .package else {
            problems.add(.conflict("billing.quantity", "a \(unit.noun) is priced per payment; a quantity rule applies to request, record, second, minute"))
            return nil
        }
        let source: Quantity.Source?
        switch (rule.query, rule.body) {
        case (let name?, nil):
            source = problems.check {
                .query(try InitCheck.identifier(name, field: "billing.quantity.query", what: "the query parameter"))
            }
        case (nil, let path?):
            source = problems.check { .body(try InitCheck.jsonPath(path, field: "billing.quantity.body")) }
        default:
            problems.add(.invalid("billing.quantity", "give query (a query parameter) or body (a JSON body field), exactly one"))
            source = nil
        }
        let maximum = problems.check {
            try InitCheck.integer(rule.max ?? InitDefaults.quantityMax(answers), in: 1...1_000_000, field: "billing.quantity.max",
                                  what: "the most units one request may buy")
        }
        let defaultValue = problems.optional(rule.default.map(String.init)) {
            try InitCheck.integer($0, in: 1...(maximum ?? 1_000_000), field: "billing.quantity.default", what: "the default quantity")
        }
        guard let source, let maximum else { return nil }
        return Quantity(source: source, max: maximum, default: defaultValue)
    }

    static func records(_ rule: InitAnswers.Records, _ problems: inout InitProblems) -> Records? {
        switch (rule.header, rule.jsonArray) {
        case (let name?, nil):
            return problems.check { .header(try InitCheck.headerName(name, field: "billing.records.header")) }
        case (nil, let path?):
            return problems.check { .jsonArray(try InitCheck.jsonPath(path, field: "billing.records.json_array")) }
        default:
            problems.add(.invalid("billing.records", "give header (a count header) or json_array (a JSON array's path), exactly one"))
            return nil
        }
    }
}
