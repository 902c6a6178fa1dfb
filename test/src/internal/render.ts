/**
 * HTML of the simulated web: product pages in many markup styles, shop home
 * pages, sitemaps and robots.txt. Rendering is deterministic: the same truth
 * and origin give the same string.
 */
import * as Hash from "./hash.ts"
import * as Truth from "../Truth.ts"
import type { World } from "../World.ts"

const P = Hash.Purpose

export const escapeHtml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/** JSON for a `<script>` element: `</` cannot close the element early. */
const scriptJson = (value: unknown, indent?: number): string => JSON.stringify(value, null, indent).replace(/<\//g, "<\\/")

const schemaAvailability = (availability: Truth.Availability) => `https://schema.org/${availability}`

/** Human display of a price, in the shop's local style (never machine-read by design). */
export const displayPrice = (minor: number, currency: string, charset: Truth.Charset): string => {
  const plain = Truth.formatMinor(minor, currency)
  const [whole = "0", fraction] = plain.split(".")
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, currency === "EUR" || currency === "SEK" ? "." : ",")
  switch (currency) {
    case "EUR":
      return charset === "iso-8859-1" ? `${grouped},${fraction} EUR` : `${grouped},${fraction}\u00a0€`
    case "USD":
      return `$${grouped}.${fraction}`
    case "GBP":
      return `£${grouped}.${fraction}`
    case "SEK":
      return `${grouped},${fraction} kr`
    case "JPY":
      return `¥${grouped}`
    default:
      return `${currency} ${grouped}.${fraction}`
  }
}

// ---------------------------------------------------------------------------
// Filler: realistic bulk (menus, descriptions, reviews, CSS, scripts) built
// from a fixed pool of pieces, picked by hash, so rendering stays cheap.

const words = (
  "the quality of our products comes from careful selection of materials and decades of craft every item is " +
  "tested in our workshop before it ships free returns within thirty days customers love the design and the " +
  "durability perfect for everyday use easy to clean dishwasher safe compatible with all standard accessories " +
  "available in several colours sizes run true order before noon for same day dispatch warranty two years"
).split(" ")

const paragraph = (seed: number, n: number): string => {
  const out: Array<string> = []
  const length = 40 + Hash.below(80, seed, P.filler, n)
  for (let i = 0; i < length; i++) out.push(words[Hash.below(words.length, seed, P.filler, n, i)]!)
  return `${out.join(" ")}.`
}

const poolSize = 64
const paragraphs: Array<string> = Array.from({ length: poolSize }, (_, n) => paragraph(0x5eed, n))
const cssRules: Array<string> = Array.from({ length: poolSize }, (_, n) =>
  `.c${n.toString(36)}-${Hash.hash(1, n).toString(36)}{margin:${n % 7}px ${n % 5}px;padding:${n % 3}em;color:#${
    (Hash.hash(2, n) & 0xffffff).toString(16).padStart(6, "0")
  };display:${n % 2 ? "flex" : "block"};font-size:${12 + (n % 6)}px;line-height:1.${n % 9}}`)
const navItems: Array<string> = Array.from({ length: poolSize }, (_, n) =>
  `<li class="menu-item menu-item-${n}"><a href="/collections/${words[n % words.length]}-${n}" class="nav-link">${
    words[(n * 7) % words.length]
  } ${words[(n * 11) % words.length]}</a></li>`)

const fillerBlock = (pick: number): string => {
  switch (pick % 4) {
    case 0:
      return `<section class="description-block"><h3>${words[pick % words.length]} ${
        words[(pick >>> 8) % words.length]
      }</h3><p>${paragraphs[(pick >>> 4) % poolSize]}</p><p>${paragraphs[(pick >>> 10) % poolSize]}</p></section>\n`
    case 1:
      return `<div class="review" data-rating="${1 + (pick % 5)}"><span class="author">customer ${
        pick % 9973
      }</span><div class="stars" style="width:${pick % 100}%"></div><p>${
        paragraphs[(pick >>> 6) % poolSize]
      }</p></div>\n`
    case 2:
      return `<ul class="mega-menu">${navItems.slice((pick >>> 3) % 48, ((pick >>> 3) % 48) + 16).join("")}</ul>\n`
    default:
      return `<style>${cssRules.slice((pick >>> 5) % 32, ((pick >>> 5) % 32) + 32).join("\n")}</style>\n`
  }
}

/**
 * Every filler block, built once as bytes: filler is ASCII, so the same bytes
 * serve every charset, and a page is assembled by copying, not by building strings.
 */
const fillerPoolSize = 1024
const fillerPool: Array<Buffer> = Array.from({ length: fillerPoolSize }, (_, j) => Buffer.from(fillerBlock(Hash.hash(0xf111e7, j)), "latin1"))

const relatedProducts = (world: World, item: Truth.ProductTruth, charset: Truth.Charset): string => {
  const cards: Array<string> = []
  for (let i = 0; i < 4; i++) {
    const other = (item.index + 1 + i) % world.products
    if (other === item.index) continue
    const noise = Math.round(item.baseMinor * (0.5 + Hash.unit(world.seed, P.filler, item.shop, item.index, 100 + i)))
    cards.push(
      `<li class="card"><a href="#related-${other}">Related item ${other}</a> <span class="price">${
        escapeHtml(displayPrice(noise, item.currency, charset))
      }</span></li>`
    )
  }
  return `<aside class="related"><h2>Customers also bought</h2><ul>${cards.join("")}</ul></aside>\n`
}

const fill = (world: World, item: Truth.ProductTruth, target: number, used: number): Array<Buffer> => {
  const blocks: Array<Buffer> = []
  let size = used
  // Bounded: blocks are at least ~300 bytes, so 4,000 of them pass 300 KB.
  for (let n = 0; size < target && n < 4_000; n++) {
    const block = fillerPool[Hash.hash(world.seed, P.filler, item.shop, item.index, n) % fillerPoolSize]!
    blocks.push(block)
    size += block.length
  }
  return blocks
}

// ---------------------------------------------------------------------------
// Structured data per style.

const offer = (item: Truth.ProductTruth, origin: string, price: string | number) => ({
  "@type": "Offer",
  url: `${origin}${item.path}`,
  price,
  priceCurrency: item.currency,
  availability: schemaAvailability(item.availability),
  itemCondition: "https://schema.org/NewCondition"
})

const productJsonLd = (item: Truth.ProductTruth, origin: string, offers: unknown, type = "Product") => ({
  "@context": "https://schema.org",
  "@type": type,
  name: item.name,
  sku: `SKU-${item.shop}-${item.index}`,
  image: [`${origin}/img/${item.index}.jpg`],
  description: `${item.name}: ${paragraphs[item.index % poolSize]!.slice(0, 120)}`,
  brand: { "@type": "Brand", name: item.name.split(" ")[0] },
  offers
})

const jsonLdScript = (value: unknown, indent?: number) =>
  `<script type="application/ld+json">${scriptJson(value, indent)}</script>\n`

const ogAvailability = (availability: Truth.Availability) => availability === "InStock" ? "in stock" : "out of stock"

const structured = (item: Truth.ProductTruth, origin: string, charset: Truth.Charset, hugeJsonLd: boolean) => {
  const head: Array<string> = []
  const body: Array<string> = []
  const price = item.price
  const name = escapeHtml(item.name)
  const shown = escapeHtml(displayPrice(item.priceMinor, item.currency, charset))
  const was = escapeHtml(displayPrice(Math.round(item.priceMinor * 1.25), item.currency, charset))
  const wasHtml = item.onSale ? `<s class="was-price">${was}</s> ` : ""
  const availabilityText = item.availability === "InStock" ? "In stock" : "Sold out"
  switch (item.style) {
    case "jsonld": {
      const data = productJsonLd(item, origin, offer(item, origin, price)) as Record<string, unknown>
      if (hugeJsonLd) {
        // ~3 MiB of reviews after the offer: valid, just enormous.
        data.review = Array.from({ length: 11_000 }, (_, n) => ({
          "@type": "Review",
          author: { "@type": "Person", name: `customer ${n}` },
          reviewRating: { "@type": "Rating", ratingValue: 1 + (n % 5) },
          reviewBody: paragraphs[n % poolSize]!.slice(0, 180)
        }))
      }
      head.push(jsonLdScript(data))
      body.push(`<h1 class="product-title">${name}</h1><div class="price-box">${wasHtml}<span class="price">${shown}</span></div>`)
      break
    }
    case "jsonld-graph": {
      head.push(jsonLdScript({ "@context": "https://schema.org", "@type": "Organization", name: "Shop", url: origin }))
      head.push(jsonLdScript({
        "@context": "https://schema.org",
        "@graph": [
          { "@type": "WebSite", "@id": `${origin}/#website`, url: origin, name: item.host },
          {
            "@type": "BreadcrumbList",
            itemListElement: [
              { "@type": "ListItem", position: 1, name: "Home", item: origin },
              { "@type": "ListItem", position: 2, name: item.name, item: `${origin}${item.path}` }
            ]
          },
          { ...productJsonLd(item, origin, [offer(item, origin, Number(price))]), "@context": undefined, "@id": `${origin}${item.path}#product` }
        ]
      }, 2))
      body.push(`<h1>${name}</h1><p class="price">${wasHtml}<span class="amount">${shown}</span></p>`)
      break
    }
    case "jsonld-aggregate": {
      head.push(jsonLdScript(productJsonLd(item, origin, {
        "@type": "AggregateOffer",
        lowPrice: price,
        highPrice: price,
        offerCount: 1,
        priceCurrency: item.currency,
        availability: schemaAvailability(item.availability),
        offers: [offer(item, origin, price)]
      })))
      body.push(`<h1>${name}</h1><div class="pricing">${wasHtml}<b>${shown}</b></div>`)
      break
    }
    case "jsonld-productgroup": {
      head.push(jsonLdScript({
        "@context": "https://schema.org",
        "@type": "ProductGroup",
        name: item.name,
        productGroupID: `G-${item.shop}-${item.index}`,
        variesBy: ["https://schema.org/size"],
        hasVariant: [{ ...productJsonLd(item, origin, offer(item, origin, price)), "@context": undefined, size: "One size" }]
      }))
      body.push(`<h1>${name}</h1><div class="variant-price">${wasHtml}${shown}</div>`)
      break
    }
    case "microdata":
      body.push(
        `<div itemscope itemtype="https://schema.org/Product"><h1 itemprop="name">${name}</h1>` +
          `<meta itemprop="sku" content="SKU-${item.shop}-${item.index}">` +
          `<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">${wasHtml}` +
          `<span itemprop="price" content="${price}">${shown}</span>` +
          `<meta itemprop="priceCurrency" content="${item.currency}">` +
          `<link itemprop="availability" href="${schemaAvailability(item.availability)}">${availabilityText}</div></div>`
      )
      break
    case "rdfa":
      body.push(
        `<div vocab="https://schema.org/" typeof="Product"><h1 property="name">${name}</h1>` +
          `<div property="offers" typeof="Offer">${wasHtml}<span property="price" content="${price}">${shown}</span>` +
          `<meta property="priceCurrency" content="${item.currency}">` +
          `<link property="availability" href="${schemaAvailability(item.availability)}">${availabilityText}</div></div>`
      )
      break
    case "opengraph":
      head.push(
        `<meta property="og:type" content="product">\n<meta property="og:title" content="${name}">\n` +
          `<meta property="og:url" content="${origin}${item.path}">\n` +
          `<meta property="product:price:amount" content="${price}">\n` +
          `<meta property="product:price:currency" content="${item.currency}">\n` +
          `<meta property="product:availability" content="${ogAvailability(item.availability)}">\n`
      )
      body.push(`<h1>${name}</h1><div class="price">${wasHtml}${shown}</div>`)
      break
    case "broken-jsonld": {
      // A truncated JSON-LD block (a real CMS bug); the meta tags still carry the price.
      const json = scriptJson(productJsonLd(item, origin, offer(item, origin, price)))
      head.push(`<script type="application/ld+json">${json.slice(0, Math.floor(json.length * 0.6))},</script>\n`)
      head.push(
        `<meta property="og:type" content="product">\n<meta property="og:title" content="${name}">\n` +
          `<meta property="product:price:amount" content="${price}">\n` +
          `<meta property="product:price:currency" content="${item.currency}">\n` +
          `<meta property="product:availability" content="${ogAvailability(item.availability)}">\n`
      )
      body.push(`<h1>${name}</h1><div class="price">${wasHtml}${shown}</div>`)
      break
    }
    case "shopify": {
      head.push(
        `<meta property="og:type" content="product">\n<meta property="og:price:amount" content="${price}">\n` +
          `<meta property="og:price:currency" content="${item.currency}">\n`
      )
      head.push(jsonLdScript(productJsonLd(item, origin, [offer(item, origin, price)])))
      body.push(
        `<div class="product__info-wrapper"><h1 class="product__title">${name}</h1><div class="price price--on-sale">` +
          (item.onSale ? `<s class="price-item price-item--regular">${was}</s>` : "") +
          `<span class="price-item price-item--sale">${shown}</span></div></div>` +
          `<script type="application/json" data-product-json>${
            scriptJson({
              id: item.shop * 100_000 + item.index,
              title: item.name,
              price: item.priceMinor * (Truth.currencyDecimals(item.currency) === 0 ? 100 : 1),
              compare_at_price: item.onSale ? Math.round(item.priceMinor * 1.25) : null,
              available: item.availability === "InStock"
            })
          }</script>`
      )
      break
    }
    case "woocommerce": {
      head.push(jsonLdScript({
        "@context": "https://schema.org/",
        "@graph": [{
          ...productJsonLd(item, origin, [{
            ...offer(item, origin, price),
            priceSpecification: { "@type": "PriceSpecification", price, priceCurrency: item.currency, valueAddedTaxIncluded: "true" }
          }]),
          "@context": undefined
        }]
      }))
      body.push(
        `<div class="summary entry-summary"><h1 class="product_title entry-title">${name}</h1><p class="price">` +
          (item.onSale
            ? `<del aria-hidden="true"><span class="woocommerce-Price-amount amount"><bdi>${was}</bdi></span></del> <ins>`
            : "") +
          `<span class="woocommerce-Price-amount amount"><bdi>${shown}</bdi></span>${item.onSale ? "</ins>" : ""}</p>` +
          `<p class="stock ${item.availability === "InStock" ? "in-stock" : "out-of-stock"}">${availabilityText}</p></div>`
      )
      break
    }
    case "magento": {
      const oldMinor = Math.round(item.priceMinor * 1.25)
      body.push(
        `<div class="product-info-main" itemscope itemtype="http://schema.org/Product"><h1 class="page-title"><span itemprop="name">${name}</span></h1>` +
          `<div class="price-box price-final_price" data-role="priceBox" itemprop="offers" itemscope itemtype="http://schema.org/Offer">` +
          `<span class="special-price"><span class="price-container"><span id="product-price-${item.index}" data-price-amount="${price}" data-price-type="finalPrice" class="price-wrapper"><span class="price">${shown}</span></span></span></span>` +
          (item.onSale
            ? `<span class="old-price"><span class="price-container"><span data-price-amount="${
              Truth.formatMinor(oldMinor, item.currency)
            }" data-price-type="oldPrice" class="price-wrapper"><span class="price">${was}</span></span></span></span>`
            : "") +
          `<meta itemprop="price" content="${price}"><meta itemprop="priceCurrency" content="${item.currency}">` +
          `<link itemprop="availability" href="${schemaAvailability(item.availability).replace("https", "http")}"></div></div>`
      )
      break
    }
    case "prestashop": {
      body.push(
        `<div class="product-container" itemscope itemtype="https://schema.org/Product"><h1 class="h1" itemprop="name">${name}</h1>` +
          `<div class="product-prices" itemprop="offers" itemscope itemtype="https://schema.org/Offer">` +
          (item.onSale ? `<div class="product-discount"><span class="regular-price">${was}</span></div>` : "") +
          `<div class="product-price h5 has-discount"><link itemprop="availability" href="${
            schemaAvailability(item.availability)
          }"><meta itemprop="priceCurrency" content="${item.currency}">` +
          `<div class="current-price"><span itemprop="price" content="${price}">${shown}</span></div></div></div></div>`
      )
      head.push(jsonLdScript({ "@context": "https://schema.org", "@type": "BreadcrumbList", itemListElement: [] }))
      break
    }
  }
  return { head: head.join(""), body: body.join("") }
}

/** The full HTML of a product page, as bytes in `charset` (`encode` writes the non-filler text). */
export const productPage = (
  world: World,
  item: Truth.ProductTruth,
  origin: string,
  charset: string,
  options: { readonly hugeJsonLd: boolean },
  encode: (text: string, charset: string) => Buffer
): Buffer => {
  const pageCharset: Truth.Charset = charset === "windows-1252" || charset === "iso-8859-1" ? charset : "utf-8"
  const { body, head } = structured(item, origin, pageCharset, options.hugeJsonLd)
  const top = `<!DOCTYPE html>\n<html lang="en"><head><meta charset="${charset}">\n` +
    `<title>${escapeHtml(item.name)} | ${item.host}</title>\n<link rel="canonical" href="${origin}${item.path}">\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n${head}</head>\n<body class="product-page">\n` +
    `<header><nav><ul class="main-nav">${navItems.slice(0, 12).join("")}</ul></nav></header>\n<main>\n`
  const core = encode(top + body + "\n" + relatedProducts(world, item, pageCharset), charset)
  const bottom = encode(`\n</main>\n<footer><p>&copy; ${item.host}</p></footer>\n</body></html>\n`, charset)
  return Buffer.concat([core, ...fill(world, item, item.sizeBytes - bottom.length, core.length), bottom])
}

/** A shop's home page: every product URL, as links. */
export const homePage = (shop: Truth.Shop, products: ReadonlyArray<Truth.Product>, origin: string): string => {
  const links = products.map((item) =>
    `<li class="product-card"><a class="product-link" href="${item.path}">${escapeHtml(item.name)}</a></li>`
  )
  return `<!DOCTYPE html>\n<html><head><meta charset="${shop.charset}"><title>${shop.host}</title>` +
    `<link rel="canonical" href="${origin}/"></head>\n<body><header><ul>${navItems.slice(0, 8).join("")}</ul></header>\n` +
    `<main><h1>${shop.host}</h1><ul class="products">\n${links.join("\n")}\n</ul></main></body></html>\n`
}

/** `/sitemap.txt`: one absolute product URL a line. */
export const sitemapText = (products: ReadonlyArray<Truth.Product>, origin: string): string =>
  products.map((item) => `${origin}${item.path}\n`).join("")

/** `/sitemap.xml`. */
export const sitemapXml = (products: ReadonlyArray<Truth.Product>, origin: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n` +
  products.map((item) => `<url><loc>${escapeHtml(origin + item.path)}</loc></url>\n`).join("") + `</urlset>\n`

/** `/robots.txt`. */
export const robotsTxt = (shop: Truth.Shop, origin: string): string =>
  `User-agent: BadBot\nDisallow: /\n\nUser-agent: *\nDisallow: /cart\nDisallow: /checkout\n` +
  (shop.disallowOutlet ? "Disallow: /outlet/\n" : "") +
  (shop.crawlDelaySeconds !== undefined ? `Crawl-delay: ${shop.crawlDelaySeconds}\n` : "") +
  `\nSitemap: ${origin}/sitemap.xml\n`
