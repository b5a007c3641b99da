package clv

import (
	"errors"
	"fmt"
)

// history holds fit data in columns. Rows without repeat purchases (x = 0,
// t_x = 0) are kept apart because their likelihood terms are simpler, and x
// is replaced by an index into the distinct frequencies so that the gamma
// and digamma terms, which depend on x only, are computed once per pass.
type history struct {
	freqs []float64 // distinct x, freqs[0] = 0
	freqW []float64 // total weight per distinct x
	total float64   // total weight
	zeroT []float64 // x = 0 rows
	zeroW []float64
	fi    []int32 // x > 0 rows: index into freqs
	tx, T []float64
	w     []float64
	// times holds the values of tx and T that txi and Ti index, built by
	// the first BG/NBD pass (Pareto/NBD does not use them). Histories in
	// whole days have a few hundred distinct times, so a BG/NBD pass takes
	// its logarithms per distinct time rather than twice per row.
	times   []float64
	txi, Ti []int32
	sumXW   float64 // sum of weight * x
	sumTW   float64 // sum of weight * T
	repeatW float64 // weight of x > 0 rows
}

func newHistory(data []Customer) (*history, error) {
	h := &history{freqs: []float64{0}, freqW: []float64{0}}
	index := map[float64]int32{0: 0}
	repeat := 0
	for _, c := range data {
		if c.X > 0 {
			repeat++
		}
	}
	h.zeroT = make([]float64, 0, len(data)-repeat)
	h.zeroW = make([]float64, 0, len(data)-repeat)
	h.fi = make([]int32, 0, repeat)
	h.tx = make([]float64, 0, repeat)
	h.T = make([]float64, 0, repeat)
	h.w = make([]float64, 0, repeat)
	for i, c := range data {
		if err := validCustomer(c); err != nil {
			return nil, fmt.Errorf("customer row %d: %w", i, err)
		}
		h.total += c.Weight
		h.sumXW += c.Weight * c.X
		h.sumTW += c.Weight * c.T
		if c.X == 0 {
			h.zeroT = append(h.zeroT, c.T)
			h.zeroW = append(h.zeroW, c.Weight)
			h.freqW[0] += c.Weight
			continue
		}
		j, ok := index[c.X]
		if !ok {
			j = int32(len(h.freqs))
			index[c.X] = j
			h.freqs = append(h.freqs, c.X)
			h.freqW = append(h.freqW, 0)
		}
		h.freqW[j] += c.Weight
		h.fi = append(h.fi, j)
		h.tx = append(h.tx, c.TX)
		h.T = append(h.T, c.T)
		h.w = append(h.w, c.Weight)
		h.repeatW += c.Weight
	}
	return h, nil
}

// maxTimeTable bounds the distinct times indexed: past it (continuous
// times) a table saves nothing, and each row gets its own two entries,
// read in order.
const maxTimeTable = 1 << 16

func (h *history) indexTimes() {
	h.txi = make([]int32, len(h.T))
	h.Ti = make([]int32, len(h.T))
	index := map[float64]int32{}
	at := func(t float64) int32 {
		k, ok := index[t]
		if !ok {
			k = int32(len(h.times))
			index[t] = k
			h.times = append(h.times, t)
		}
		return k
	}
	for i := range h.T {
		h.txi[i], h.Ti[i] = at(h.tx[i]), at(h.T[i])
		if len(h.times) > maxTimeTable {
			h.times = make([]float64, 0, 2*len(h.T))
			for r := range h.T {
				h.txi[r], h.Ti[r] = int32(2*r), int32(2*r+1)
				h.times = append(h.times, h.tx[r], h.T[r])
			}
			return
		}
	}
}

// fittable reports why the data cannot identify a purchase model, or nil.
func (h *history) fittable() error {
	if h.total == 0 {
		return errors.New("no customers to fit")
	}
	if h.repeatW == 0 {
		return errors.New("no customer has a repeat purchase (x > 0), so purchase rates and dropout cannot be told apart; fit on a longer calibration period")
	}
	return nil
}

// rateScale is a starting value for the scale of the purchase rate
// distribution (alpha): one over the observed purchase rate.
func (h *history) rateScale() float64 {
	if h.sumTW == 0 || h.sumXW == 0 {
		return 1
	}
	return h.sumTW / h.sumXW
}
