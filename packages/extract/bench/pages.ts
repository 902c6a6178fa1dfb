/**
 * Deterministic shop pages of a given size for the benchmarks: a real-looking
 * product page (head with CSS/JS, navigation, the product block, a grid of
 * related-product cards, a footer) padded with cards to the target size.
 */

export type Variant = "json-ld" | "meta" | "plain"

const nav = Array.from({ length: 40 }, (_, i) => `<li class="nav__item"><a href="/collections/c-${i}" class="nav__link">Category ${i}</a></li>`).join("")

const card = (i: number): string =>
  `<li class="grid__item"><div class="card card--product" data-product-id="${1000 + i}">` +
  `<a href="/products/item-${i}" class="card__media"><img src="//cdn.example.com/files/item-${i}_360x.jpg" alt="Item ${i}" width="360" height="360" loading="lazy"></a>` +
  `<div class="card__content"><h3 class="card__heading"><a href="/products/item-${i}">Handmade item number ${i} &amp; friends</a></h3>` +
  `<div class="card__rating" aria-label="4.${i % 10} out of 5">★★★★☆ <span>(${(i * 37) % 500})</span></div>` +
  `<div class="price"><span class="price-item price-item--regular">€${(i % 90) + 10},${String(i % 100).padStart(2, "0")}</span></div>` +
  `</div></div></li>\n`

const jsonLd = `<script type="application/ld+json">
{"@context":"https://schema.org","@graph":[
 {"@type":"Organization","@id":"https://shop.example/#org","name":"Example Shop","url":"https://shop.example/","logo":"https://shop.example/logo.png"},
 {"@type":"BreadcrumbList","itemListElement":[{"@type":"ListItem","position":1,"name":"Home","item":"https://shop.example/"},{"@type":"ListItem","position":2,"name":"Lamps","item":"https://shop.example/lamps"}]},
 {"@type":"Product","@id":"https://shop.example/p/lamp#product","name":"Desk Lamp Aurora","sku":"AUR-01","gtin13":"4006381333931",
  "description":"A warm, dimmable desk lamp with a brass arm and a linen shade. Ships in 2–3 days.",
  "brand":{"@type":"Brand","name":"Aurora"},"aggregateRating":{"@type":"AggregateRating","ratingValue":"4.7","reviewCount":"212"},
  "offers":{"@type":"Offer","url":"https://shop.example/p/lamp","price":"89.90","priceCurrency":"EUR","availability":"https://schema.org/InStock",
   "seller":{"@id":"https://shop.example/#org"},"shippingDetails":{"@type":"OfferShippingDetails","shippingRate":{"@type":"MonetaryAmount","value":"4.90","currency":"EUR"}}}}
]}
</script>`

const meta = `<meta property="og:type" content="product"><meta property="og:title" content="Desk Lamp Aurora">
<meta property="og:image" content="https://cdn.example.com/files/aurora.jpg"><meta property="og:url" content="https://shop.example/p/lamp">
<meta property="product:price:amount" content="89.90"><meta property="product:price:currency" content="EUR">
<meta property="product:availability" content="in stock"><meta property="product:retailer_item_id" content="AUR-01">`

const analytics = `<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}gtag("js",new Date());gtag("config","G-XXXX");` +
  `var meta={"page":{"pageType":"product","resourceType":"product","resourceId":1234},"product":{"id":1234,"vendor":"Aurora","type":"Lamp"}};` +
  `for(var i=0;i<10;i++){if(i<5){console.debug("x")}}</script>`

/** A page of about `bytes` (UTF-8) with the product in the given markup style. */
export const makePage = (bytes: number, variant: Variant): string => {
  const head = `<!DOCTYPE html><html lang="de-DE"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<title>Desk Lamp Aurora – Example Shop</title><link rel="stylesheet" href="//cdn.example.com/theme.css">` +
    (variant === "json-ld" ? jsonLd : "") + (variant === "meta" ? meta : "") + analytics + `</head>`
  const top = `<body class="template-product"><header class="header"><a href="/" class="header__logo">Example Shop</a>` +
    `<nav class="nav"><ul class="nav__list">${nav}</ul></nav></header><main id="MainContent">` +
    `<section class="product"><div class="product__media"><img src="//cdn.example.com/files/aurora.jpg" alt="Aurora"></div>` +
    `<div class="product__info"><h1 class="product__title">Desk Lamp Aurora</h1>` +
    `<div class="pdp-price"><s class="pdp-price__was">119,00 €</s> <span class="pdp-price__now">89,90 €</span></div>` +
    `<p class="product__text">A warm, dimmable desk lamp with a brass arm and a linen shade.</p>` +
    `<button type="submit" name="add" class="product-form__submit">In den Warenkorb</button></div></section>` +
    `<section class="related"><h2>Das könnte Ihnen auch gefallen</h2><ul class="grid">`
  const bottom = `</ul></section></main><footer class="footer"><p>© 2026 Example Shop · <a href="/impressum">Impressum</a></p></footer></body></html>`
  let cards = ""
  let i = 0
  const fixed = Buffer.byteLength(head + top + bottom)
  while (fixed + Buffer.byteLength(cards) < bytes) cards += card(i++)
  return head + top + cards + bottom
}
