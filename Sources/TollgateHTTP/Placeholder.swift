enum _PlaceholderTollgateHTTP {}
