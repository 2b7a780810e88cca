# Chart of a bench/run.sh result: one column per frame size; top row Mpps,
# bottom row the switch's own busy cycles per forwarded packet. Bars are the
# median over the rounds, whiskers the slowest and fastest round.
# run.py writes the data file and calls:
#   gnuplot -e "datafile='X.dat'; outfile='X.png'; sizes='64 1518'" bench/plot.gp
# Data columns: backend, then for each size in order: Mpps median/min/max,
# cycles per packet median/min/max.
if (!exists("datafile")) datafile = 'bench/results/latest.dat'
if (!exists("outfile")) outfile = 'bench/results/latest.png'
if (!exists("sizes")) sizes = '64 1518'

n = words(sizes)
set terminal pngcairo size (520 * n), 760 font ",10"
set output outfile
set multiplot layout 2, n title "vhost-user forwarding with 1 switch core: median of interleaved rounds, whiskers min-max"
set style fill solid 0.6 border -1
set boxwidth 0.6
set grid ytics
set yrange [0:*]
set xtics rotate by -25 nomirror
do for [i = 1:n] {
    set title word(sizes, i) . "-byte frames: throughput"
    set ylabel "Mpps"
    c = 2 + 6 * (i - 1)
    plot datafile using 0:c:xtic(1) with boxes lc rgb "#4477aa" notitle, \
         '' using 0:c:(column(c + 1)):(column(c + 2)) with yerrorbars lc rgb "black" pt -1 notitle, \
         '' using 0:c:(sprintf("%.2f", column(c))) with labels offset 0, 0.8 notitle
}
do for [i = 1:n] {
    set title word(sizes, i) . "-byte frames: switch busy cycles per packet (lower is better)"
    set ylabel "cycles/packet"
    c = 5 + 6 * (i - 1)
    plot datafile using 0:c:xtic(1) with boxes lc rgb "#cc6677" notitle, \
         '' using 0:c:(column(c + 1)):(column(c + 2)) with yerrorbars lc rgb "black" pt -1 notitle, \
         '' using 0:c:(sprintf("%.0f", column(c))) with labels offset 0, 0.8 notitle
}
unset multiplot
