package demo

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ForecastArgs are get_forecast's arguments.
type ForecastArgs struct {
	City string `json:"city" jsonschema:"city name, e.g. Paris"`
	Days int    `json:"days,omitempty" jsonschema:"number of days, 1 to 7 (default 3)"`
}

// DayForecast is one day of a forecast.
type DayForecast struct {
	Date       string `json:"date"`
	Conditions string `json:"conditions"`
	HighC      int    `json:"highC"`
	LowC       int    `json:"lowC"`
}

// Forecast is get_forecast's structured result.
type Forecast struct {
	City string        `json:"city"`
	Days []DayForecast `json:"days"`
}

var conditions = []string{"sunny", "partly cloudy", "cloudy", "light rain", "showers", "windy", "fog"}

// NewWeatherServer returns the weather demo MCP server.
func NewWeatherServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "mcpgate-demo-weather", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{
		Name:         "get_forecast",
		Description:  "Get a (made-up, deterministic) weather forecast for a city.",
		Annotations:  readOnlyTool("Weather forecast"),
		OutputSchema: outputSchema[Forecast](),
	}, func(_ context.Context, _ *mcp.CallToolRequest, in ForecastArgs) (*mcp.CallToolResult, Forecast, error) {
		city := strings.TrimSpace(in.City)
		if city == "" {
			return nil, Forecast{}, fmt.Errorf("city is required, e.g. {\"city\": \"Paris\"}")
		}
		days := in.Days
		if days == 0 {
			days = 3
		}
		if days < 1 || days > 7 {
			return nil, Forecast{}, fmt.Errorf("days must be between 1 and 7, got %d", in.Days)
		}
		f := Forecast{City: city, Days: make([]DayForecast, 0, days)}
		start := time.Now().UTC()
		var b strings.Builder
		fmt.Fprintf(&b, "Forecast for %s:\n", city)
		for i := range days {
			h := hash(strings.ToLower(city), fmt.Sprint(i))
			d := DayForecast{
				Date:       start.AddDate(0, 0, i).Format("2006-01-02"),
				Conditions: conditions[h%uint64(len(conditions))],
				HighC:      10 + int(h>>8%18),
			}
			d.LowC = d.HighC - 4 - int(h>>16%6)
			f.Days = append(f.Days, d)
			fmt.Fprintf(&b, "  %s: %s, %d°C / %d°C\n", d.Date, d.Conditions, d.HighC, d.LowC)
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.TrimRight(b.String(), "\n")}}}, f, nil
	})
	return s
}

// Weather returns the weather demo server as a Streamable HTTP handler.
func Weather(o *Options) http.Handler { return handler(NewWeatherServer(), o) }
