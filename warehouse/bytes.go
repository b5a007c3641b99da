package warehouse

import "fmt"

// FormatBytes writes a byte count for people, in binary units: 512 B,
// 12.0 KiB, 50.0 MiB, 1.50 GiB. Progress lines and the bench report use it.
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
