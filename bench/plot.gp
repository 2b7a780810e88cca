# Chart of a bench/run.sh result: one panel per frame size, one bar per
# backend (median Mpps over the rounds), whiskers from the slowest to the
# fastest round. run.py writes the data file and calls:
#   gnuplot -e "datafile='X.dat'; outfile='X.png'; sizes='64 1518'" bench/plot.gp
# Data columns: backend, then median/min/max Mpps for each size in order.
if (!exists("datafile")) datafile = 'bench/results/latest.dat'
if (!exists("outfile")) outfile = 'bench/results/latest.png'
if (!exists("sizes")) sizes = '64 1518'

n = words(sizes)
set terminal pngcairo size (480 * n), 420 font ",10"
set output outfile
set multiplot layout 1, n title "vhost-user forwarding, 1 switch core (median of rounds, min-max whiskers)"
set style fill solid 0.6 border -1
set boxwidth 0.6
set grid ytics
set yrange [0:*]
set xtics rotate by -30 nomirror
set ylabel "Mpps"
do for [i = 1:n] {
    set title word(sizes, i) . "-byte frames"
    c = 2 + 3 * (i - 1)
    plot datafile using 0:c:xtic(1) with boxes lc rgb "#4477aa" notitle, \
         '' using 0:c:(column(c + 1)):(column(c + 2)) with yerrorbars lc rgb "black" pt -1 notitle, \
         '' using 0:c:(sprintf("%.2f", column(c))) with labels offset 0, 0.8 notitle
}
unset multiplot
