enum _PlaceholderTollgateDevFacilitator {}
