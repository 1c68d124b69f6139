package botdetect

// Built-in User-Agent rules, grouped so that each group can be enabled on
// its own with `builtin:`.
//
// Kong's built-in list (from ua-parser's uap-core) blocks every class
// below at once, including search engines and the HTTP client libraries
// that normal API clients use (Go-http-client, okhttp, axios: Kong issue
// #6626). edgeguard keeps the same classes but only blocks `scanners` by
// default; `crawlers` and `clients` are opt-in, and `kong` enables all of
// them. Every group still counts as a "known bot signature" for the
// behavioural score when it is not blocking.
//
// These expressions are edgeguard's own, written for case-insensitive
// matching; they cover the classes of Kong's list, not its exact text.

// Group names for `builtin:`.
const (
	GroupScanners = "scanners" // security scanners and bulk scrapers (default)
	GroupCrawlers = "crawlers" // search, preview, SEO, archive, monitoring, feed crawlers
	GroupClients  = "clients"  // HTTP client libraries and cloud SDKs
	GroupKong     = "kong"     // all of the above, as Kong blocks by default
)

// Rule is one built-in pattern.
type Rule struct {
	Group   string
	Name    string
	Pattern string
}

// Rules is the built-in list.
var Rules = []Rule{
	{GroupScanners, "security scanners",
		`masscan|zgrab|nmap scripting engine|nikto|sqlmap|whatweb|nuclei|wpscan|dirbuster|gobuster|feroxbuster|ffuf|acunetix|netsparker|nessus|openvas|w3af|arachni|havij|zmeu|censysinspect`},
	{GroupScanners, "scrapers",
		`scrapy|nutch|heritrix|httrack|gocolly|crawler4j|webzip|sitesucker|teleportpro|larbin|grub-client|webcopier|offline explorer`},

	{GroupCrawlers, "search engines",
		`googlebot|adsbot-google|mediapartners-google|google-inspectiontool|bingbot|bingpreview|adidxbot|msnbot|baiduspider|yandex(?:bot|images|mobilebot|metrika|accessibilitybot)|yahoo! slurp|duckduckbot|applebot|yeti/|sogou web spider|exabot|seznambot|qwantify|petalbot|mojeekbot`},
	{GroupCrawlers, "link previews",
		`facebookexternalhit|facebookcatalog|meta-externalagent|twitterbot|linkedinbot|slackbot|slack-imgproxy|whatsapp/|telegrambot|discordbot|skypeuripreview|pinterestbot|redditbot|embedly|iframely`},
	{GroupCrawlers, "seo crawlers",
		`semrushbot|ahrefsbot|mj12bot|dotbot|rogerbot|blexbot|dataforseobot|serpstatbot|seokicks|siteauditbot|screaming frog|megaindex`},
	{GroupCrawlers, "archive and ai crawlers",
		`ia_archiver|archive\.org_bot|gptbot|chatgpt-user|ccbot|claudebot|anthropic-ai|bytespider|perplexitybot|amazonbot|cohere-ai|diffbot|omgili`},
	{GroupCrawlers, "monitors",
		`pingdom|catchpoint|webpagetest|uptimerobot|statuscake|site24x7|newrelicpinger|datadog/synthetics|gomezagent|uptime-kuma|freshping|hetrixtools`},
	{GroupCrawlers, "feed readers",
		`feedfetcher|feedly|newsblur|inoreader|tiny tiny rss|feedbin|simplepie|feedburner|netvibes|newsgator|rssowl|feedvalidator`},
	{GroupCrawlers, "generic name/version",
		`(?:bot|spider|crawler?|scraper|indexer|archiver)[ /_-]?v?\d`},
	{GroupCrawlers, "generic info url",
		`\+https?://\S*(?:bot|crawl|spider)`},

	{GroupClients, "http client libraries",
		`go-http-client|okhttp|axios/|apache-httpclient|google-http-java-client|python-urllib|reqwest|libwww-perl|winhttp|java/\d|python-httpx|aiohttp|guzzlehttp`},
	{GroupClients, "cloud sdks",
		`boto3|botocore|aws-sdk-|aws-cli/|azsdk-|azure-sdk|google-api-go-client|gcloud-golang|google-cloud-sdk|oci-sdk|aliyun-sdk`},
}

// groupRules returns the patterns of the given groups (GroupKong = all).
func groupRules(groups map[string]bool) (in, out []string) {
	for _, r := range Rules {
		if groups[r.Group] || groups[GroupKong] {
			in = append(in, r.Pattern)
		} else {
			out = append(out, r.Pattern)
		}
	}
	return in, out
}

// knownGroup reports whether g is a group name.
func knownGroup(g string) bool {
	switch g {
	case GroupScanners, GroupCrawlers, GroupClients, GroupKong:
		return true
	}
	return false
}
