package bench

import (
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// series groups the results of one shape by pattern family: unstructured sparsities form a
// line; N:M and each block size form their own series.
func seriesName(p Pattern) string {
	switch p.Kind {
	case Unstructured:
		return "unstructured"
	case NM:
		return "N:M"
	case Block:
		return fmt.Sprintf("block %dx%d", p.R, p.C)
	case Model:
		return p.String()
	}
	return "dense"
}

var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
}

// Plot draws speedup over our dense kernel against sparsity, one panel per shape and one
// series per pattern family, and writes it to base+".svg" and base+".png".
func Plot(rs []Result, base string) error {
	var shapes []string
	byShape := map[string][]Result{}
	for _, r := range rs {
		k := r.Shape.Name
		if _, ok := byShape[k]; !ok {
			shapes = append(shapes, k)
		}
		byShape[k] = append(byShape[k], r)
	}
	if len(shapes) == 0 {
		return fmt.Errorf("plot: no results")
	}
	cols := min(len(shapes), 3)
	rows := (len(shapes) + cols - 1) / cols
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	for i, name := range shapes {
		p, err := shapePlot(byShape[name])
		if err != nil {
			return err
		}
		plots[i/cols][i%cols] = p
	}
	for i := len(shapes); i < rows*cols; i++ {
		plots[i/cols][i%cols] = plot.New() // empty panel
		plots[i/cols][i%cols].HideAxes()
	}
	w, h := vg.Length(cols)*4*vg.Inch, vg.Length(rows)*3.2*vg.Inch
	if err := os.MkdirAll(filepath.Dir(base+".x"), 0o755); err != nil {
		return err
	}
	for _, kind := range []string{"svg", "png"} {
		var c draw.Canvas
		switch kind {
		case "svg":
			sc := vgsvg.New(w, h)
			c = draw.New(sc)
			drawTiles(c, plots, rows, cols)
			if err := writeFile(base+".svg", sc.WriteTo); err != nil {
				return err
			}
		case "png":
			ic := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110))
			c = draw.New(ic)
			drawTiles(c, plots, rows, cols)
			pc := vgimg.PngCanvas{Canvas: ic}
			if err := writeFile(base+".png", pc.WriteTo); err != nil {
				return err
			}
		}
	}
	return nil
}

func drawTiles(c draw.Canvas, plots [][]*plot.Plot, rows, cols int) {
	c.SetColor(color.White)
	c.Fill(c.Rectangle.Path())
	t := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, t, c)
	for i := range plots {
		for j := range plots[i] {
			if plots[i][j] != nil {
				plots[i][j].Draw(canvases[i][j])
			}
		}
	}
}

func writeFile(path string, write func(w io.Writer) (int64, error)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func shapePlot(rs []Result) (*plot.Plot, error) {
	p := plot.New()
	r0 := rs[0]
	p.Title.Text = fmt.Sprintf("%s (M=%d K=%d N=%d)", r0.Shape.Name, r0.Shape.M, r0.Shape.K, r0.Shape.N)
	p.X.Label.Text = "sparsity (%)"
	p.Y.Label.Text = "speedup over our dense kernel (×)"
	p.X.Min, p.X.Max = 0, 100
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true

	groups := map[string]plotter.XYs{}
	var names []string
	ymax := 1.0
	for _, r := range rs {
		if r.Pattern.Kind == Dense {
			continue
		}
		n := seriesName(r.Pattern)
		if _, ok := groups[n]; !ok {
			names = append(names, n)
		}
		groups[n] = append(groups[n], plotter.XY{X: 100 * r.Sparsity, Y: r.SpeedupDense})
		ymax = max(ymax, r.SpeedupDense)
	}
	p.Y.Max = ymax * 1.1
	one, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 1}, {X: 100, Y: 1}})
	if err != nil {
		return nil, err
	}
	one.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	one.Color = color.Gray{0x60}
	p.Add(one)
	p.Legend.Add("dense = 1", one)
	sort.Strings(names)
	for i, n := range names {
		xy := groups[n]
		sort.Slice(xy, func(a, b int) bool { return xy[a].X < xy[b].X })
		col := palette[i%len(palette)]
		lp, sp, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		lp.Color, sp.Color = col, col
		sp.Shape = shapeFor(i)
		sp.Radius = vg.Points(3)
		if len(xy) == 1 || !strings.HasPrefix(n, "unstructured") {
			lp.Width = vg.Points(0.7)
		}
		p.Add(lp, sp)
		p.Legend.Add(n, lp, sp)
	}
	return p, nil
}

func shapeFor(i int) draw.GlyphDrawer {
	switch i % 4 {
	case 0:
		return draw.CircleGlyph{}
	case 1:
		return draw.TriangleGlyph{}
	case 2:
		return draw.SquareGlyph{}
	}
	return draw.CrossGlyph{}
}
