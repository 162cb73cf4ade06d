package azure

import (
	"strings"
)

// Load balancer metric names (Azure Monitor, namespace
// Microsoft.Network/loadBalancers) netdoctor reads.
const (
	MetricSnatConnectionCount = "SnatConnectionCount"
	MetricAllocatedSnatPorts  = "AllocatedSnatPorts"
	MetricUsedSnatPorts       = "UsedSnatPorts"
)

// MetricsResponse is what `az monitor metrics list -o json` prints and the
// Azure Monitor metrics REST API returns.
type MetricsResponse struct {
	Timespan  string   `json:"timespan"`
	Interval  string   `json:"interval"`
	Namespace string   `json:"namespace"`
	Value     []Metric `json:"value"`
}

// Metric is one metric's time series.
type Metric struct {
	ID         string           `json:"id"`
	Type       string           `json:"type"`
	Name       LocalizableValue `json:"name"`
	Unit       string           `json:"unit"`
	ErrorCode  string           `json:"errorCode"`
	Timeseries []TimeSeries     `json:"timeseries"`
}

// LocalizableValue is a name with its display form.
type LocalizableValue struct {
	Value          string `json:"value"`
	LocalizedValue string `json:"localizedValue"`
}

// TimeSeries is one series of a metric, for one combination of dimension
// values (metadatavalues).
type TimeSeries struct {
	MetadataValues []MetadataValue `json:"metadatavalues"`
	Data           []MetricValue   `json:"data"`
}

// MetadataValue is a dimension's value for a series.
type MetadataValue struct {
	Name  LocalizableValue `json:"name"`
	Value string           `json:"value"`
}

// MetricValue is one data point. Aggregations not asked for are null.
type MetricValue struct {
	TimeStamp string   `json:"timeStamp"`
	Average   *float64 `json:"average"`
	Minimum   *float64 `json:"minimum"`
	Maximum   *float64 `json:"maximum"`
	Total     *float64 `json:"total"`
	Count     *float64 `json:"count"`
}

// Peak is the largest value of the point (maximum, else total, else average).
func (v MetricValue) Peak() (float64, bool) {
	for _, p := range []*float64{v.Maximum, v.Total, v.Average} {
		if p != nil {
			return *p, true
		}
	}
	return 0, false
}

// Dimension returns the value of a dimension (case-insensitive name).
func (t TimeSeries) Dimension(name string) string {
	for _, m := range t.MetadataValues {
		if strings.EqualFold(m.Name.Value, name) {
			return m.Value
		}
	}
	return ""
}

// Peak is the largest value over the series.
func (t TimeSeries) Peak() (float64, bool) {
	var best float64
	found := false
	for _, d := range t.Data {
		if v, ok := d.Peak(); ok && (!found || v > best) {
			best, found = v, true
		}
	}
	return best, found
}

// BackendSNAT is what the load balancer metrics say about one backend IP.
type BackendSNAT struct {
	BackendIP string
	// Allocated and Used are the peak AllocatedSnatPorts / UsedSnatPorts.
	Allocated, Used float64
	HasAllocated    bool
	HasUsed         bool
	// FailedConnections is the peak SnatConnectionCount with
	// ConnectionState=failed.
	FailedConnections float64
}

// SNATByBackend folds metrics responses into per-backend-IP figures (series
// split by the BackendIPAddress dimension).
func SNATByBackend(responses []MetricsResponse) map[string]*BackendSNAT {
	out := map[string]*BackendSNAT{}
	get := func(ip string) *BackendSNAT {
		b := out[ip]
		if b == nil {
			b = &BackendSNAT{BackendIP: ip}
			out[ip] = b
		}
		return b
	}
	for _, r := range responses {
		for _, m := range r.Value {
			for _, ts := range m.Timeseries {
				ip := ts.Dimension("BackendIPAddress")
				if ip == "" {
					continue
				}
				peak, ok := ts.Peak()
				if !ok {
					continue
				}
				b := get(ip)
				switch {
				case strings.EqualFold(m.Name.Value, MetricAllocatedSnatPorts):
					b.Allocated, b.HasAllocated = max(b.Allocated, peak), true
				case strings.EqualFold(m.Name.Value, MetricUsedSnatPorts):
					b.Used, b.HasUsed = max(b.Used, peak), true
				case strings.EqualFold(m.Name.Value, MetricSnatConnectionCount):
					if strings.EqualFold(ts.Dimension("ConnectionState"), "failed") {
						b.FailedConnections = max(b.FailedConnections, peak)
					}
				}
			}
		}
	}
	return out
}
